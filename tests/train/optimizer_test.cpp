#include "diffmem/train/optimizer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

using namespace diffmem::train;

namespace {
// A small least-squares problem; both optimizers see the same gradients.
torch::Tensor loss_of(const torch::Tensor& w, const torch::Tensor& b) {
  torch::manual_seed(3);
  auto x = torch::randn({16, 5});
  auto y = torch::randn({16, 2});
  return ((x.matmul(w) + b - y).pow(2)).mean();
}
}  // namespace

TEST(Adam, MatchesTorchOptimAdamWithoutClipOrWarmup) {
  torch::manual_seed(0);
  auto w1 = torch::randn({5, 2}).requires_grad_(true);
  auto b1 = torch::randn({2}).requires_grad_(true);
  auto w2 = w1.detach().clone().requires_grad_(true);
  auto b2 = b1.detach().clone().requires_grad_(true);

  AdamOptions o;
  o.lr = 0.05;
  o.grad_clip = 0;
  Adam ours({{"w", w1}, {"b", b1}}, o);
  torch::optim::Adam ref(std::vector<torch::Tensor>{w2, b2}, torch::optim::AdamOptions(0.05));
  for (int step = 0; step < 25; ++step) {
    ours.zero_grad();
    loss_of(w1, b1).backward();
    ours.step(step);
    ref.zero_grad();
    loss_of(w2, b2).backward();
    ref.step();
  }
  EXPECT_LT((w1 - w2).abs().max().item<double>(), 1e-5);
  EXPECT_LT((b1 - b2).abs().max().item<double>(), 1e-5);
  EXPECT_GT((w1 - torch::zeros_like(w1)).abs().sum().item<double>(), 0);
}

TEST(Adam, ClipsTheGlobalNormAndWarmsUp) {
  auto p = torch::zeros({3}).requires_grad_(true);
  AdamOptions o;
  o.lr = 1.0;
  o.grad_clip = 1.0;
  o.warmup_steps = 4;
  Adam adam({{"p", p}}, o);
  p.mutable_grad() = torch::tensor({30.0f, 40.0f, 0.0f});
  StepStats s = adam.step(0);
  EXPECT_NEAR(s.grad_norm, 50.0, 1e-4);
  EXPECT_NEAR(s.lr, 0.25, 1e-12);
  EXPECT_NEAR(adam.lr_at(3), 1.0, 1e-12);
  EXPECT_NEAR(adam.lr_at(100), 1.0, 1e-12);
  // First Adam step moves each coordinate by lr * sign(g) (bias-corrected m/sqrt(v) = ±1).
  EXPECT_NEAR(p[0].item<double>(), -0.25, 1e-5);
  EXPECT_NEAR(p[1].item<double>(), -0.25, 1e-5);
  EXPECT_NEAR(p[2].item<double>(), 0.0, 1e-6);
}

TEST(Adam, StateRoundTripContinuesIdentically) {
  auto make = [] { return torch::arange(6, torch::kFloat).reshape({2, 3}).requires_grad_(true); };
  auto p1 = make(), p2 = make();
  AdamOptions o;
  o.lr = 0.1;
  Adam a({{"p", p1}}, o);
  for (int s = 0; s < 3; ++s) {
    a.zero_grad();
    (p1 * p1).sum().backward();
    a.step(s);
  }
  // A second optimizer resumed from a's state and weights must take the same 4th step.
  {
    torch::NoGradGuard ng;
    p2.copy_(p1);
  }
  Adam b({{"p", p2}}, o);
  b.load_state(a.state(), "test");
  a.zero_grad();
  (p1 * p1).sum().backward();
  a.step(3);
  b.zero_grad();
  (p2 * p2).sum().backward();
  b.step(3);
  EXPECT_TRUE(torch::equal(p1, p2));
}

TEST(Ema, TracksTheAverageWithDiffusersWarmup) {
  auto p = torch::zeros({2});
  Ema ema({{"p", p}}, 0.5);
  // diffusers' EMAModel: 0 at the first update, then min(decay, (1 + s) / (10 + s)).
  EXPECT_EQ(ema.decay_at(0), 0.0);
  EXPECT_NEAR(ema.decay_at(1), 2.0 / 11.0, 1e-15);
  EXPECT_NEAR(ema.decay_at(8), 0.5, 1e-15);   // 9/18 = the cap exactly
  EXPECT_EQ(ema.decay_at(1000), 0.5);
  EXPECT_NEAR(Ema({{"p", p}}, 0.999).decay_at(1500), 1501.0 / 1510.0, 1e-15);
  p.fill_(1.0);
  ema.update({{"p", p}}, 0);  // a copy
  EXPECT_NEAR(ema.weights()[0].second[0].item<double>(), 1.0, 1e-7);
  p.fill_(0.0);
  ema.update({{"p", p}}, 1);
  EXPECT_NEAR(ema.weights()[0].second[0].item<double>(), 2.0 / 11.0, 1e-7);
  p.fill_(1.0);
  ema.update({{"p", p}}, 100);
  EXPECT_NEAR(ema.weights()[0].second[0].item<double>(), 0.5 * 2.0 / 11.0 + 0.5, 1e-7);
}

TEST(Adam, FlattensModuleParametersAndStepsThemAsOneBuffer) {
  torch::manual_seed(1);
  torch::nn::Linear ours(5, 3), ref(5, 3);
  {
    torch::NoGradGuard ng;
    ref->weight.copy_(ours->weight);
    ref->bias.copy_(ours->bias);
  }
  NamedTensors params;
  for (auto& p : ours->named_parameters()) params.emplace_back(p.key(), p.value());
  AdamOptions o;
  o.lr = 0.05;
  o.grad_clip = 0.5;
  Adam adam(params, o);
  // The module's own parameters are now views into one buffer, in order.
  const torch::Tensor span = contiguous_span(params);
  ASSERT_TRUE(span.defined());
  EXPECT_EQ(span.numel(), 5 * 3 + 3);
  EXPECT_EQ(ours->weight.data_ptr(), span.data_ptr());
  torch::optim::Adam torch_adam(ref->parameters(), torch::optim::AdamOptions(0.05));
  const torch::Tensor x = torch::randn({16, 5}), y = torch::randn({16, 3});
  for (int step = 0; step < 10; ++step) {
    adam.zero_grad();
    (ours->forward(x) - y).pow(2).mean().backward();
    // backward() accumulated into the gradient buffer in place: the gradients are still views.
    EXPECT_EQ(ours->bias.grad().data_ptr<float>(), ours->weight.grad().data_ptr<float>() + 15);
    const double norm = adam.step(step).grad_norm;
    torch_adam.zero_grad();
    (ref->forward(x) - y).pow(2).mean().backward();
    torch::nn::utils::clip_grad_norm_(ref->parameters(), 0.5);
    torch_adam.step();
    if (step == 0) {
      EXPECT_GT(norm, 0.5);  // so the comparison covers clipping
    }
  }
  EXPECT_LT((ours->weight - ref->weight).abs().max().item<double>(), 1e-5);
  EXPECT_LT((ours->bias - ref->bias).abs().max().item<double>(), 1e-5);
  // The EMA of flat parameters is flat too and follows them.
  Ema ema(params, 0.5);
  ema.update(params, 0);
  EXPECT_TRUE(torch::equal(ema.weights()[0].second, ours->weight));
}
