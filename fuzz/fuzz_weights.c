/* libFuzzer: safetensors weights through sung_model_load (the safetensors parser, the
 * metadata, shapes, dtypes and the NaN/Inf/range checks). */
#include "fuzz_file.h"
#include "sung.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sung_model *m = NULL;
    sung_error err;
    if (sung_model_load(&m, fuzz_write(data, size, ".safetensors"), &err) == SUNG_OK) sung_model_free(m);
    return 0;
}
