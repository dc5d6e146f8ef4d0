// K compact modules of one recurrent layer, every step in two parts: one batched recurrent
// product (at::bmm_out), then per (module, example) row the input product, the biases and the
// gate non-linearities in one vectorisable loop (rows in parallel where torch has threads).
// Built at first use by rnnmod.modules.fused (torch.utils.cpp_extension); the Python path in
// compact_bank.py computes the same thing with one torch call per operation, which at batch 256
// spends most of its time in the element-wise calls over K x the padded width.
//
// Inputs (float32, CPU):
//   xp    [R, K, G*W]  input products per row and module (last dim contiguous, any strides
//                      elsewhere); the first layer's rows are vocabulary ids (a per-token table)
//                      or (example, step) rows, as are a deeper layer's batched products
//   rows  [T, B] int64 which row of xp feeds step t of example b
//   whh   [K, W, G*W]  recurrent weights (contiguous)
//   bhh   [K, G*W]     recurrent biases, added to the recurrent product every step
//   cell  0 LSTM, 1 GRU, 2 RNN tanh, 3 RNN relu
// LSTM: the cell-gate block of xp, whh and bhh arrives scaled by 2, so one sigmoid loop over
// every gate gives tanh(g) = 2 sigmoid(2g) - 1.
// Returns the states of every step [K, B, T, W] (all_steps) or of the last step [K, B, W].
// fused_layer_above runs a deeper layer from the states below instead of xp and rows (hin
// [K, B, T, Win], wih [K, Win, G*W], bih [K, G*W]): each row's input product is computed in the
// row loop, where the inner dimension Win is a module's width (tens of units), rather than as
// one batched product over every step, which is slow at such inner dimensions (docs/budget.md).

#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace {

// exp(x) for float32, Cephes' polynomial after range reduction: branch-free, so the loops
// below vectorise (relative error about 1e-7, within the engine's 1e-5 tolerance).
inline float fexp(float x) {
  x = x < -87.f ? -87.f : (x > 88.f ? 88.f : x);
  const float n = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

inline float fsigmoid(float x) { return 1.f / (1.f + fexp(-x)); }
inline float ftanh(float x) { return 2.f / (1.f + fexp(-2.f * x)) - 1.f; }

}  // namespace

namespace {

// Where step t of example b reads module k's input products (G*W values, biases included).
struct TableRows {  // precomputed: a row of xp per (token or (example, step)), then the module
  const float* xq;
  const int64_t* rq;
  int64_t sR, sK, B;
  const float* get(int64_t t, int64_t b, int64_t k, float*) const {
    return xq + rq[t * B + b] * sR + k * sK;
  }
};

struct BelowStates {  // a deeper layer: the module's own states one layer down times its w_ih
  const float* hq;    // [K, B, T, Win]
  const float* wq;    // [K, Win, G*W]
  const float* bq;    // [K, G*W]
  int64_t B, T, Win, GW;
  const float* get(int64_t t, int64_t b, int64_t k, float* buf) const {
    const float* __restrict hi = hq + ((k * B + b) * T + t) * Win;
    const float* __restrict wk = wq + k * Win * GW;
    const float* __restrict bk = bq + k * GW;
#pragma omp simd
    for (int64_t j = 0; j < GW; ++j) buf[j] = bk[j];
    for (int64_t i = 0; i < Win; ++i) {
      const float a = hi[i];
      const float* __restrict wr = wk + i * GW;
#pragma omp simd
      for (int64_t j = 0; j < GW; ++j) buf[j] += a * wr[j];
    }
    return buf;
  }
};

template <class Source>
torch::Tensor run_layer(const Source& src, int64_t T, int64_t B, torch::Tensor whh,
                        torch::Tensor bhh, int64_t cell, bool all_steps) {
  TORCH_CHECK(whh.is_contiguous() && bhh.is_contiguous(), "whh and bhh must be contiguous");
  TORCH_CHECK(whh.scalar_type() == at::kFloat && whh.is_cpu(), "float32 CPU tensors only");
  const int64_t K = whh.size(0), W = whh.size(1), GW = whh.size(2), G = GW / W;
  TORCH_CHECK(G == (cell == 0 ? 4 : cell == 1 ? 3 : 1), "gate blocks do not match the cell");
  auto opts = whh.options();
  auto h = torch::zeros({K, B, W}, opts);
  auto c = cell == 0 ? torch::zeros({K, B, W}, opts) : torch::Tensor();
  auto s = torch::empty({K, B, GW}, opts);
  auto out = all_steps ? torch::empty({K, B, T, W}, opts) : torch::Tensor();
  float* hp = h.data_ptr<float>();
  float* sp = s.data_ptr<float>();
  float* cp = cell == 0 ? c.data_ptr<float>() : nullptr;
  float* op = all_steps ? out.data_ptr<float>() : nullptr;
  const float* bq = bhh.data_ptr<float>();
  const int64_t KB = K * B;

  for (int64_t t = 0; t < T; ++t) {
    at::bmm_out(s, h, whh);  // s = h whh, every module at once
    // then each (module, example) row on its own, everything it needs in cache: rows in
    // parallel where torch has threads
    at::parallel_for(0, KB, 64, [&](int64_t lo, int64_t hi) {
      std::vector<float> buf(GW);
      for (int64_t r = lo; r < hi; ++r) {
        const int64_t k = r / B, b = r % B;
        float* __restrict sr = sp + r * GW;
        float* __restrict hr = hp + r * W;
        const float* __restrict br = bq + k * GW;
        const float* __restrict xr = src.get(t, b, k, buf.data());
        if (cell == 0) {  // LSTM: every gate through one sigmoid, then c, h
          float* __restrict cr = cp + r * W;
#pragma omp simd
          for (int64_t j = 0; j < GW; ++j) sr[j] = fsigmoid(sr[j] + br[j] + xr[j]);
#pragma omp simd
          for (int64_t u = 0; u < W; ++u) {
            const float cc = sr[W + u] * cr[u] + sr[u] * (2.f * sr[2 * W + u] - 1.f);
            cr[u] = cc;
            hr[u] = sr[3 * W + u] * ftanh(cc);
          }
        } else if (cell == 1) {  // GRU: r, z = sigma(x + s + b); n = tanh(x_n + r (s_n + b_n))
#pragma omp simd
          for (int64_t j = 0; j < 2 * W; ++j) sr[j] = fsigmoid(sr[j] + br[j] + xr[j]);
#pragma omp simd
          for (int64_t u = 0; u < W; ++u) {
            const float n = ftanh(xr[2 * W + u] + sr[u] * (sr[2 * W + u] + br[2 * W + u]));
            hr[u] = n + sr[W + u] * (hr[u] - n);
          }
        } else if (cell == 2) {
#pragma omp simd
          for (int64_t u = 0; u < W; ++u) hr[u] = ftanh(sr[u] + br[u] + xr[u]);
        } else {
#pragma omp simd
          for (int64_t u = 0; u < W; ++u) {
            const float v = sr[u] + br[u] + xr[u];
            hr[u] = v > 0.f ? v : 0.f;
          }
        }
        if (all_steps) std::memcpy(op + (r * T + t) * W, hr, W * sizeof(float));
      }
    });
  }
  return all_steps ? out : h;
}

}  // namespace

torch::Tensor fused_layer(torch::Tensor xp, torch::Tensor rows, torch::Tensor whh,
                          torch::Tensor bhh, int64_t cell, bool all_steps) {
  TORCH_CHECK(xp.dim() == 3 && xp.stride(2) == 1, "xp must be [R, K, G*W], last dim contiguous");
  TORCH_CHECK(rows.is_contiguous() && rows.dim() == 2, "rows must be a contiguous [T, B]");
  TORCH_CHECK(xp.scalar_type() == at::kFloat, "float32 only");
  TORCH_CHECK(xp.size(1) == whh.size(0) && xp.size(2) == whh.size(2), "xp does not match whh");
  const TableRows src{xp.data_ptr<float>(), rows.data_ptr<int64_t>(), xp.stride(0), xp.stride(1),
                      rows.size(1)};
  return run_layer(src, rows.size(0), rows.size(1), whh, bhh, cell, all_steps);
}

// A deeper layer: its input products computed per row from the states below (hin [K, B, T, Win],
// wih [K, Win, G*W], bih [K, G*W]) — small inner dimensions, so in registers rather than as one
// batched product over every step.
torch::Tensor fused_layer_above(torch::Tensor hin, torch::Tensor wih, torch::Tensor bih,
                                torch::Tensor whh, torch::Tensor bhh, int64_t cell,
                                bool all_steps) {
  TORCH_CHECK(hin.is_contiguous() && wih.is_contiguous() && bih.is_contiguous(),
              "hin, wih and bih must be contiguous");
  TORCH_CHECK(hin.scalar_type() == at::kFloat && wih.scalar_type() == at::kFloat,
              "float32 only");
  TORCH_CHECK(hin.dim() == 4 && hin.size(0) == whh.size(0) && wih.size(0) == whh.size(0) &&
                  wih.size(1) == hin.size(3) && wih.size(2) == whh.size(2) &&
                  bih.numel() == whh.size(0) * whh.size(2),
              "hin, wih, bih do not match whh");
  const BelowStates src{hin.data_ptr<float>(), wih.data_ptr<float>(), bih.data_ptr<float>(),
                        hin.size(1), hin.size(2), hin.size(3), whh.size(2)};
  return run_layer(src, hin.size(2), hin.size(1), whh, bhh, cell, all_steps);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("fused_layer", &fused_layer, "K compact modules of one recurrent layer, fused steps");
  m.def("fused_layer_above", &fused_layer_above,
        "the same for a deeper layer, reading the states of the layer below");
}
