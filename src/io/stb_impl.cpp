// stb's image decoder, resizer and writer, compiled here from Debian's headers (libstb-dev) rather
// than linked from its libstb.so, for two reasons found by scripts/fuzz.sh:
//  - the fuzz targets build this same file instrumented, so they test the decoder that ships (the
//    prebuilt library gave libFuzzer no coverage and AddressSanitizer nothing to check);
//  - every allocation is zeroed. stb 2.27 mallocs its JPEG decoder state, so a scan that names a
//    Huffman table no DHT segment defined decoded with garbage tables and read up to 16 MB past
//    them; with zeroed tables such a code is never found and the file is refused as corrupt.
#include <cstdlib>

#define STBI_MALLOC(size) std::calloc(1, size)
#define STBI_REALLOC(p, size) std::realloc(p, size)
#define STBI_FREE(p) std::free(p)
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>
#include <stb/stb_image_write.h>
