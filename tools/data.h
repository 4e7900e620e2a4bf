/* GoPro-layout datasets (SPEC §9): ROOT/<sequence>/{blur,blur_gamma,sharp}/NAME.png. */
#ifndef SUNG_DATA_H
#define SUNG_DATA_H

#include <stddef.h>

typedef struct {
    char **blur, **sharp; /* paths, sorted by sequence and file name */
    int n, cap;
} pairs;

/* Lists the pairs under root with blur images from blur_dir ("blur" or "blur_gamma");
 * prints a message for `cmd` and returns non-zero on error (including no pairs, or a
 * blur image without its sharp partner). */
int pairs_list(const char *cmd, const char *root, const char *blur_dir, pairs *p);
/* The name of a pair in CSVs (`sung eval --csv`, RUNDIR/val-images.csv): "<seq>/<file>"
 * of its blur path ROOT/<seq>/<blur_dir>/<file>, into out (n bytes); the whole path when
 * it has fewer components. */
void pair_label(const char *blur_path, char *out, size_t n);
void pairs_free(pairs *p);

/* Image files (.png, .jpg, .jpeg, any case) directly in dir, sorted: names only. */
int dir_images(const char *cmd, const char *dir, char ***names, int *n);
void names_free(char **names, int n);
int is_image_name(const char *name);
int is_dir(const char *path);
/* mkdir -p; 0 on success */
int make_dirs(const char *path);

#endif
