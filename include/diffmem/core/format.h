#pragma once
// Numbers as text for files diffmem writes (CSV cells, SVG coordinates, messages).
#include <string>

namespace diffmem::core {

/// The shortest printf form that reads back as the same double ("%.17g"): "0.5", "1e-07", "nan".
std::string exact_number(double v);

}  // namespace diffmem::core
