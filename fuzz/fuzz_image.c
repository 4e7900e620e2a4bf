/* libFuzzer: PNG and JPEG files through sung_image_load_ex (the readers, the size checks,
 * EXIF orientation, ICC markers), then a save of what was read with its metadata (the
 * EXIF and ICC writers). Any crash, leak or sanitizer report is a finding; errors are
 * the expected outcome for most inputs. */
#include "fuzz_file.h"
#include "sung.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sung_image im;
    sung_image_meta meta;
    sung_error err;
    const char *p = fuzz_write(data, size, ".img");
    if (sung_image_load_ex(&im, &meta, p, &err) == SUNG_OK) {
        /* small images only: the writers are not what a big one would test */
        if ((size_t)im.w * im.h <= 1 << 16) {
            sung_image_save_opts so = {meta.depth, 90, &meta};
            char out[300];
            snprintf(out, sizeof out, "%s.%s", p, size % 2 ? "png" : "jpg");
            if (size % 2 == 0) so.depth = 8;
            if (sung_image_save_ex(&im, out, &so, &err) == SUNG_OK) {
                sung_image back;
                sung_image_meta m2;
                if (sung_image_load_ex(&back, &m2, out, &err) != SUNG_OK || back.w != im.w || back.h != im.h ||
                    m2.orientation != 1)
                    abort(); /* what we wrote must read back upright at its size */
                sung_image_free(&back);
                sung_image_meta_free(&m2);
            }
            remove(out);
        }
        sung_image_free(&im);
        sung_image_meta_free(&meta);
    }
    return 0;
}
