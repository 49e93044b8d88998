#include "inception_blocks.h"

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>

#include <vector>

namespace diffmem::model::detail {
namespace nn = torch::nn;
namespace {

class BasicConv2dImpl : public InceptionBlock {
 public:
  explicit BasicConv2dImpl(const ConvSpec& s) {
    conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(s.in, s.out, {s.kh, s.kw})
                                                  .stride(s.stride)
                                                  .padding(torch::ExpandingArray<2>({s.ph, s.pw}))
                                                  .bias(false)));
    bn = register_module("bn", nn::BatchNorm2d(nn::BatchNorm2dOptions(s.out).eps(0.001)));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor y = conv->forward(x);
    // Running statistics whatever the module's train() flag: this net is never trained.
    y = torch::batch_norm(y, bn->weight, bn->bias, bn->running_mean, bn->running_var,
                          /*training=*/false, /*momentum=*/0.0, bn->options.eps(),
                          /*cudnn_enabled=*/true);
    return torch::relu_(y);
  }

 private:
  nn::Conv2d conv{nullptr};
  nn::BatchNorm2d bn{nullptr};
};

using Block = std::shared_ptr<InceptionBlock>;

// TensorFlow's average pool, which pytorch-fid's FID blocks copy: padding left out of the mean.
torch::Tensor tf_avg_pool(const torch::Tensor& x) {
  return torch::avg_pool2d(x, {3, 3}, {1, 1}, {1, 1}, /*ceil_mode=*/false,
                           /*count_include_pad=*/false);
}

class BlockBase : public InceptionBlock {
 protected:
  Block add(const char* name, ConvSpec spec) {
    return register_module(
        name, std::static_pointer_cast<InceptionBlock>(std::make_shared<BasicConv2dImpl>(spec)));
  }
};

class InceptionAImpl : public BlockBase {
 public:
  InceptionAImpl(int64_t in, int64_t pool_features) {
    b1x1 = add("branch1x1", {in, 64, 1, 1});
    b5_1 = add("branch5x5_1", {in, 48, 1, 1});
    b5_2 = add("branch5x5_2", {48, 64, 5, 5, 1, 2, 2});
    d_1 = add("branch3x3dbl_1", {in, 64, 1, 1});
    d_2 = add("branch3x3dbl_2", {64, 96, 3, 3, 1, 1, 1});
    d_3 = add("branch3x3dbl_3", {96, 96, 3, 3, 1, 1, 1});
    pool = add("branch_pool", {in, pool_features, 1, 1});
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    return torch::cat({b1x1->forward(x), b5_2->forward(b5_1->forward(x)),
                       d_3->forward(d_2->forward(d_1->forward(x))), pool->forward(tf_avg_pool(x))},
                      1);
  }

 private:
  Block b1x1, b5_1, b5_2, d_1, d_2, d_3, pool;
};

class InceptionBImpl : public BlockBase {
 public:
  explicit InceptionBImpl(int64_t in) {
    b3x3 = add("branch3x3", {in, 384, 3, 3, 2});
    d_1 = add("branch3x3dbl_1", {in, 64, 1, 1});
    d_2 = add("branch3x3dbl_2", {64, 96, 3, 3, 1, 1, 1});
    d_3 = add("branch3x3dbl_3", {96, 96, 3, 3, 2});
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    return torch::cat({b3x3->forward(x), d_3->forward(d_2->forward(d_1->forward(x))),
                       torch::max_pool2d(x, {3, 3}, {2, 2})},
                      1);
  }

 private:
  Block b3x3, d_1, d_2, d_3;
};

class InceptionCImpl : public BlockBase {
 public:
  InceptionCImpl(int64_t in, int64_t c7) {
    b1x1 = add("branch1x1", {in, 192, 1, 1});
    s_1 = add("branch7x7_1", {in, c7, 1, 1});
    s_2 = add("branch7x7_2", {c7, c7, 1, 7, 1, 0, 3});
    s_3 = add("branch7x7_3", {c7, 192, 7, 1, 1, 3, 0});
    d_1 = add("branch7x7dbl_1", {in, c7, 1, 1});
    d_2 = add("branch7x7dbl_2", {c7, c7, 7, 1, 1, 3, 0});
    d_3 = add("branch7x7dbl_3", {c7, c7, 1, 7, 1, 0, 3});
    d_4 = add("branch7x7dbl_4", {c7, c7, 7, 1, 1, 3, 0});
    d_5 = add("branch7x7dbl_5", {c7, 192, 1, 7, 1, 0, 3});
    pool = add("branch_pool", {in, 192, 1, 1});
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor d = x;
    for (const Block& b : {d_1, d_2, d_3, d_4, d_5}) d = b->forward(d);
    return torch::cat({b1x1->forward(x), s_3->forward(s_2->forward(s_1->forward(x))), d,
                       pool->forward(tf_avg_pool(x))},
                      1);
  }

 private:
  Block b1x1, s_1, s_2, s_3, d_1, d_2, d_3, d_4, d_5, pool;
};

class InceptionDImpl : public BlockBase {
 public:
  explicit InceptionDImpl(int64_t in) {
    t_1 = add("branch3x3_1", {in, 192, 1, 1});
    t_2 = add("branch3x3_2", {192, 320, 3, 3, 2});
    s_1 = add("branch7x7x3_1", {in, 192, 1, 1});
    s_2 = add("branch7x7x3_2", {192, 192, 1, 7, 1, 0, 3});
    s_3 = add("branch7x7x3_3", {192, 192, 7, 1, 1, 3, 0});
    s_4 = add("branch7x7x3_4", {192, 192, 3, 3, 2});
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor s = x;
    for (const Block& b : {s_1, s_2, s_3, s_4}) s = b->forward(s);
    return torch::cat({t_2->forward(t_1->forward(x)), s, torch::max_pool2d(x, {3, 3}, {2, 2})}, 1);
  }

 private:
  Block t_1, t_2, s_1, s_2, s_3, s_4;
};

class InceptionEImpl : public BlockBase {
 public:
  InceptionEImpl(int64_t in, bool max_pool) : max_pool_(max_pool) {
    b1x1 = add("branch1x1", {in, 320, 1, 1});
    t_1 = add("branch3x3_1", {in, 384, 1, 1});
    t_2a = add("branch3x3_2a", {384, 384, 1, 3, 1, 0, 1});
    t_2b = add("branch3x3_2b", {384, 384, 3, 1, 1, 1, 0});
    d_1 = add("branch3x3dbl_1", {in, 448, 1, 1});
    d_2 = add("branch3x3dbl_2", {448, 384, 3, 3, 1, 1, 1});
    d_3a = add("branch3x3dbl_3a", {384, 384, 1, 3, 1, 0, 1});
    d_3b = add("branch3x3dbl_3b", {384, 384, 3, 1, 1, 1, 0});
    pool = add("branch_pool", {in, 192, 1, 1});
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    const torch::Tensor t = t_1->forward(x);
    const torch::Tensor d = d_2->forward(d_1->forward(x));
    // FIDInceptionE_2 max-pools here: pytorch-fid calls it "likely an error" in the TF graph,
    // and FID keeps it.
    const torch::Tensor p =
        max_pool_ ? torch::max_pool2d(x, {3, 3}, {1, 1}, {1, 1}) : tf_avg_pool(x);
    return torch::cat({b1x1->forward(x), t_2a->forward(t), t_2b->forward(t), d_3a->forward(d),
                       d_3b->forward(d), pool->forward(p)},
                      1);
  }

 private:
  bool max_pool_;
  Block b1x1, t_1, t_2a, t_2b, d_1, d_2, d_3a, d_3b, pool;
};

}  // namespace

Block basic_conv(const ConvSpec& spec) { return std::make_shared<BasicConv2dImpl>(spec); }
Block inception_a(int64_t in, int64_t pool_features) {
  return std::make_shared<InceptionAImpl>(in, pool_features);
}
Block inception_b(int64_t in) { return std::make_shared<InceptionBImpl>(in); }
Block inception_c(int64_t in, int64_t channels_7x7) {
  return std::make_shared<InceptionCImpl>(in, channels_7x7);
}
Block inception_d(int64_t in) { return std::make_shared<InceptionDImpl>(in); }
Block inception_e(int64_t in, bool max_pool) {
  return std::make_shared<InceptionEImpl>(in, max_pool);
}

}  // namespace diffmem::model::detail
