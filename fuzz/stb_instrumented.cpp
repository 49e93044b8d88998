// stb's image decoder, resizer and writer compiled into the fuzz targets, so that libFuzzer sees
// their coverage and AddressSanitizer checks their memory accesses: Debian's libstb.so, which the
// main build links, is neither instrumented (a fuzz run against it mutated PNG/JPEG bytes blind).
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>
#include <stb/stb_image_write.h>
