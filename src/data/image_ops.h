#pragma once
// Whole-batch pixel conversions shared by import and show (private to the data layer).
#include "diffmem/io/array.h"

namespace diffmem::data {

/// U8 [N,H,W,C] with C in {1,3} → [N,H,W,channels]. 1→3 repeats the gray value; 3→1 uses
/// stb's luminance ((77 R + 150 G + 29 B) >> 8) so that IDX/CIFAR and image files convert alike.
io::HostArray convert_channels(const io::HostArray& nhwc, int channels);

/// Channel conversion then resize to size×size (io::resize_image per image); 0 keeps the source's
/// value. Reducing channels happens before resizing and adding them after, to resize less data.
io::HostArray adapt_images(const io::HostArray& nhwc, int channels, int size);

/// Nearest-neighbour upscale of U8 [H,W,C] by an integer factor (for grids people look at).
io::HostArray upscale_nearest(const io::HostArray& hwc, int factor);

}  // namespace diffmem::data
