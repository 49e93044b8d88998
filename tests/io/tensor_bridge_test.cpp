#include "diffmem/io/tensor_bridge.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>

#include "diffmem/core/error.h"

namespace diffmem::io {
namespace {

HostArray from_values(DType d, std::vector<int64_t> shape, const void* src) {
  HostArray a = HostArray::zeros(d, std::move(shape));
  std::memcpy(a.bytes.data(), src, a.bytes.size());
  return a;
}

TEST(TensorBridge, ValuesSurviveBothWays) {
  const float f[] = {1.5f, -2.0f, 0.0f, 3.25f, 1e-3f, -7.0f};
  torch::Tensor t = to_tensor(from_values(DType::kF32, {2, 3}, f));
  ASSERT_EQ(t.scalar_type(), torch::kFloat32);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t[1][0].item<float>(), 3.25f);
  EXPECT_EQ(t[0][1].item<float>(), -2.0f);

  const int64_t i[] = {-1, 1LL << 50, 7};
  torch::Tensor ti = to_tensor(from_values(DType::kI64, {3}, i));
  EXPECT_EQ(ti[1].item<int64_t>(), 1LL << 50);

  // Half precision: 0x3C00 = 1.0, 0xC000 = -2.0 (F16); 0x3FC0 = 1.5, 0xC040 = -3.0 (BF16).
  const uint16_t h[] = {0x3C00, 0xC000};
  torch::Tensor th = to_tensor(from_values(DType::kF16, {2}, h));
  ASSERT_EQ(th.scalar_type(), torch::kFloat16);
  EXPECT_EQ(th.to(torch::kFloat32)[1].item<float>(), -2.0f);
  const uint16_t bf[] = {0x3FC0, 0xC040};
  torch::Tensor tb = to_tensor(from_values(DType::kBF16, {2}, bf));
  ASSERT_EQ(tb.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(tb.to(torch::kFloat32)[0].item<float>(), 1.5f);
  EXPECT_EQ(tb.to(torch::kFloat32)[1].item<float>(), -3.0f);

  HostArray back = from_tensor(torch::tensor({0.5f, -1.0f}).to(torch::kBFloat16));
  ASSERT_EQ(back.dtype, DType::kBF16);
  EXPECT_EQ(back.data<uint16_t>()[0], 0x3F00);
  EXPECT_EQ(back.data<uint16_t>()[1], 0xBF80);
  HostArray back16 = from_tensor(torch::tensor({0.5f, -1.0f}).to(torch::kFloat16));
  ASSERT_EQ(back16.dtype, DType::kF16);
  EXPECT_EQ(back16.data<uint16_t>()[0], 0x3800);
  EXPECT_EQ(back16.data<uint16_t>()[1], 0xBC00);
}

TEST(TensorBridge, EveryDtypeRoundTripsBytes) {
  for (DType d : {DType::kU8, DType::kI8, DType::kI16, DType::kI32, DType::kI64, DType::kF16,
                  DType::kBF16, DType::kF32, DType::kF64, DType::kBool}) {
    HostArray a = HostArray::zeros(d, {3, 2});
    for (size_t i = 0; i < a.bytes.size(); ++i)
      a.bytes[i] = d == DType::kBool ? i % 2 : static_cast<uint8_t>(i * 37 + 1);
    torch::Tensor t = to_tensor(a);
    EXPECT_EQ(t.scalar_type(), to_scalar_type(d));
    EXPECT_EQ(from_scalar_type(t.scalar_type()), d);
    HostArray b = from_tensor(t);
    EXPECT_EQ(b.dtype, d) << dtype_name(d);
    EXPECT_EQ(b.shape, a.shape) << dtype_name(d);
    EXPECT_EQ(b.bytes, a.bytes) << dtype_name(d);
  }
}

TEST(TensorBridge, NonContiguousScalarAndEmpty) {
  torch::Tensor t = torch::arange(6, torch::kInt32).reshape({2, 3}).t();  // [[0,3],[1,4],[2,5]]
  HostArray a = from_tensor(t);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{3, 2}));
  const int32_t want[] = {0, 3, 1, 4, 2, 5};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(a.data<int32_t>()[i], want[i]);

  HostArray s = from_tensor(torch::tensor(2.5, torch::kFloat64));
  ASSERT_EQ(s.dtype, DType::kF64);
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(s.data<double>()[0], 2.5);
  EXPECT_EQ(to_tensor(s).dim(), 0);
  EXPECT_EQ(to_tensor(s).item<double>(), 2.5);

  HostArray e = from_tensor(torch::zeros({0, 4}));
  EXPECT_EQ(e.shape, (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(to_tensor(e).sizes(), (std::vector<int64_t>{0, 4}));
}

TEST(TensorBridge, BoolBytesAreNormalizedAndBadInputsFail) {
  HostArray b = HostArray::zeros(DType::kBool, {3});
  b.bytes = {0, 7, 255};
  torch::Tensor t = to_tensor(b);
  EXPECT_EQ(t.sum().item<int64_t>(), 2);
  EXPECT_EQ(from_tensor(t).bytes, (std::vector<uint8_t>{0, 1, 1}));

  HostArray short_a = HostArray::zeros(DType::kF32, {4});
  short_a.bytes.resize(15);
  EXPECT_THROW(to_tensor(short_a), Error);
  EXPECT_THROW(from_tensor(torch::zeros({2}, torch::kComplexFloat)), Error);
}

}  // namespace
}  // namespace diffmem::io
