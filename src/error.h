/* Filling a sung_error: the one helper every part of the library reports through, so
 * that image, JPEG and synth code need nothing of the model's. */
#ifndef SUNG_ERROR_H
#define SUNG_ERROR_H

#include "sung.h"

/* printf into err->msg (truncated to fit); nothing when err is NULL. */
void model_set_error(sung_error *err, const char *fmt, ...);

#endif
