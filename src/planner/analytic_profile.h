// The analytic compute profile: what a block, the embedding, the head and the optimizer cost on a
// modelled device (a DGX A100/H100/H200 GPU) that Loom does not run on, from the FLOPs and the
// bytes of each kernel as Megatron-LM (2021) runs a GPT step. Two kinds of kernel:
//   - GEMMs, each costed with its real per-rank shape at the tensor-parallel degree: FLOPs over
//     the peak times an efficiency that falls for a small dimension, or the bytes it reads and
//     writes over the memory bandwidth when that takes longer (a roofline). The backward runs the
//     two GEMMs of each forward one (input gradient, weight gradient) with their own shapes.
//   - memory-bound kernels (norms, bias and activation, dropout, residual adds, softmax over the
//     materialised attention scores, rotary, cross-entropy, the embedding lookup, Adam): bytes
//     read and written over the memory bandwidth times a streaming efficiency.
// Activation memory follows Korthikanti et al. 2022. Every constant, its default and its source
// are in AnalyticConstants below and in docs/analytic-profile.md.
#pragma once

#include <cstdint>
#include <string>

#include "planner/cluster.h"
#include "planner/compute_profile.h"
#include "planner/model_spec.h"
#include "planner/precision.h"

namespace loom::planner {

// Where dropout is applied: on the attention probabilities, after the attention output
// projection and after the MLP (and after the embedding), as Megatron-LM's GPT does.
enum class DropoutMode {
  gpt2_style,  // on for GPT-2-style models (LayerNorm and learned positions: gpt2, loom-gpt), off otherwise
  on,
  off,
};

// The named constants of the model; the defaults describe Megatron-LM (2021) on an A100.
struct AnalyticConstants {
  // Fraction of the dense peak a large GEMM sustains. cuBLAS reaches 70-80% of the A100's dense
  // fp16/bf16 peak on large transformer shapes; the best shape of a sweep reaches 86-87% on an
  // A100 SXM and 80% on an H100 SXM (Bekman, "Machine Learning Engineering", maximum achievable
  // matmul FLOPS table). 0.8: the top of the transformer-shape range, before the shape factor.
  double gemm_efficiency = 0.8;
  // d0 of the small-dimension factor d / (d + d0) applied on the smallest of a GEMM's m, n, k.
  // cuBLAS tiles m and n by 128 (and pipelines k in steps of 32-64): a dimension cut into 128-wide
  // tiles wastes half a tile on average, so d0 = 64. 0 disables the factor.
  double gemm_small_dim = 64.0;
  // Fraction of the datasheet memory bandwidth that streaming (elementwise, reduction) kernels
  // reach. An assumption, not a measurement: copies sustain 80-90% of an HBM datasheet figure
  // (refresh, read/write turnaround), framework kernels with reductions the lower end.
  double memory_efficiency = 0.8;
  // Fused attention (FlashAttention-2) instead of Megatron-LM 2021's materialised s x s scores:
  // no score bytes, no s^2 activations, the causal half of the score FLOPs, and its own efficiency.
  bool flash_attention = false;
  // FlashAttention-2 (Dao 2023) reaches 50-73% of the A100 peak in the forward; its backward,
  // which recomputes the scores (2.5x the forward FLOPs), runs at about 45-60%.
  double flash_attention_forward_efficiency = 0.6;
  double flash_attention_backward_efficiency = 0.5;
  DropoutMode dropout = DropoutMode::gpt2_style;
};

// The two rates of the modelled device that the profile divides by.
struct DeviceRates {
  double peak_flops_per_s = 0.0;  // dense peak in the compute dtype of the precision
  double memory_bandwidth_bytes_per_s = 0.0;
};

// The cluster's device rates for `precision` (fp32: the fp32 peak; fp16/bf16: the bf16 peak).
// UserError when the cluster does not know its device's memory bandwidth.
DeviceRates device_rates(const ClusterSpec& cluster, Precision precision);

// The work of one piece for `samples` sequences on one rank, in the terms its time is made of.
struct PieceWork {
  double forward_gemm_flops = 0.0;  // FLOPs the GEMM (and fused-attention) kernels execute
  double backward_gemm_flops = 0.0;
  double forward_gemm_s = 0.0;  // those kernels' time: compute or memory, whichever is longer
  double backward_gemm_s = 0.0;
  double forward_stream_bytes = 0.0;  // bytes read and written by the memory-bound kernels
  double backward_stream_bytes = 0.0;
};

class AnalyticComputeProfile : public ComputeProfile {
 public:
  // UserError for a model with a zero dimension, a sequence length < 1, a device without a
  // memory bandwidth, or a constant out of range (efficiencies in (0, 1], gemm_small_dim >= 0).
  AnalyticComputeProfile(ModelSpec model, int64_t seq, const ClusterSpec& cluster, Precision precision,
                         AnalyticConstants constants = {});

  PieceCost block(double samples, int tp, bool sequence_parallel) const override;
  PieceCost embedding(double samples, int vocab_tp) const override;
  PieceCost head(double samples, int vocab_tp) const override;
  // Clipping and mixed-precision Adam over `parameters` elements: optimizer_bytes_per_parameter each.
  double optimizer_s(double parameters) const override;
  std::string source() const override;

  PieceWork block_work(double samples, int tp, bool sequence_parallel) const;
  PieceWork embedding_work(double samples, int vocab_tp) const;
  PieceWork head_work(double samples, int vocab_tp) const;

  // The fraction of the peak one GEMM [m x k] x [k x n] sustains before the memory roofline.
  double gemm_efficiency(double m, double n, double k) const;
  // Bytes the optimizer step reads and writes per parameter in this precision.
  double optimizer_bytes_per_parameter() const;
  // Whether the blocks apply dropout (DropoutMode resolved for this model).
  bool dropout() const { return dropout_; }
  const DeviceRates& rates() const { return rates_; }
  const AnalyticConstants& constants() const { return constants_; }

 private:
  struct Gemm {
    double count, m, n, k;  // `count` independent [m x k] x [k x n] products
  };
  double gemm_s(const Gemm& gemm) const;
  // Forward of `gemm`, then the backward's input and weight gradients, into `work`.
  void add_gemm(const Gemm& gemm, double scale, PieceWork& work) const;
  double stream_s(double bytes) const;
  PieceCost cost_of(const PieceWork& work) const;
  void check_samples(double samples, const char* piece) const;

  ModelSpec model_;
  int64_t seq_;
  Precision precision_;
  DeviceRates rates_;
  AnalyticConstants constants_;
  bool dropout_;
  std::string device_name_;
};

}  // namespace loom::planner
