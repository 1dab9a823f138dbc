// attention.h — scaled dot-product attention with a key padding mask: the CPU reference's contract.
//
// Math, per batch n and head h (PyTorch's F.scaled_dot_product_attention with a boolean key mask):
//   S = Q K^T / sqrt(Dh), S[t, s] = -inf where mask[n, s] == 0,  P = softmax over s of S,  O = P V.
//   A query whose keys are all masked gets P = 0 and so O = 0 (PyTorch gives NaN there); see softmax.h.
//   backward: dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dP * P)),
//             dQ = dS K / sqrt(Dh),  dK = dS^T Q / sqrt(Dh).
//   Masked entries have P = 0, so dS is 0 there and masked keys receive no gradient through S.
// Layout: q (N, H, T, Dh), k and v (N, H, S, Dh), out (N, H, T, Dh), probs (N, H, T, S) saved by the
// forward for the backward, mask (N, S) of bytes with non-zero = attend, or null = attend everywhere.
// Versions: CPU reference (attention_cpu.cpp, Eigen GEMMs per (n, h)); it materialises P, which is fine
// for the short sequences this engine trains on (a fused, tiled kernel would avoid the T S buffer).
#pragma once

#include <cstdint>

namespace dru::cpu {

// Sizes: n batch, h heads, t queries, s keys, dh features per head.
struct AttentionSizes {
  int64_t n, h, t, s, dh;
};

template <class T>
void attention_forward(const T* q, const T* k, const T* v, const uint8_t* mask, T* out, T* probs, AttentionSizes z);

// From the forward's q, k, v, probs and dout (N, H, T, Dh): writes dq, dk and dv (overwritten).
template <class T>
void attention_backward(const T* q, const T* k, const T* v, const T* probs, const T* dout, T* dq, T* dk, T* dv,
                        AttentionSizes z);

}  // namespace dru::cpu
