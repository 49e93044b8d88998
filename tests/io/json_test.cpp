#include "diffmem/io/json.h"

#include <gtest/gtest.h>

namespace diffmem::io {
namespace {

TEST(Json, OverlayMergesObjectsAndKeepsNullAsAValue) {
  Json base = {{"a", 1}, {"b", {{"x", 1}, {"y", 2}}}, {"c", {1, 2}}, {"t", 0.5}};
  overlay_json(base, {{"b", {{"y", 3}, {"z", 4}}}, {"c", {9}}, {"t", nullptr}, {"new", "v"}});
  EXPECT_EQ(base, (Json{{"a", 1},
                        {"b", {{"x", 1}, {"y", 3}, {"z", 4}}},
                        {"c", {9}},
                        {"t", nullptr},
                        {"new", "v"}}));
}

}  // namespace
}  // namespace diffmem::io
