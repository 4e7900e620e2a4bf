/* libFuzzer: training state files through sung_train_state_load (weights, Adam moments,
 * adam_step and the metadata pairs handed back). */
#include "fuzz_file.h"
#include "sung.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sung_model *m = NULL;
    sung_meta *meta = NULL;
    int nmeta = 0;
    sung_error err;
    if (sung_train_state_load(&m, fuzz_write(data, size, ".safetensors"), &meta, &nmeta, &err) == SUNG_OK) {
        sung_meta_free(meta, nmeta);
        sung_model_free(m);
    }
    return 0;
}
