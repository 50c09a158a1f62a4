// ParallelTrainer: runs one training step of a plan on this rank. It turns the plan into the
// device mesh (parallel/mesh.h), this rank's units (the embedding, its stage's layers, the head),
// each holding its TP shards in one flat buffer with the layer's sharding stage over its DP group,
// gradient buckets, and the pipeline program (parallel/schedule.h) it then interprets.
//
// A step: every rank passes the same global batch; each unit takes the rows of its replica. The
// stage runs its pipeline program: per micro-batch and unit, a forward recorded on the unit's own
// tape (or, for recomputed layers, with no tape and the input kept), and later the backward,
// which replays a recomputed forward first. Gradients come out as exact global gradients (the
// loss seed is 1/(micro-batches x replicas)), so every DP reduction is a sum. Units with sharding
// 0/1 fill buckets that are all-reduced on the DP group's progress thread as soon as their last
// unit's final backward ends; sharding 2/3 units reduce-scatter each micro-batch's gradient;
// sharding 3 gathers parameters before each use (prefetching the next unit) and frees them
// after. Then global-norm clipping over the unique elements, AdamW on each rank's shard, and an
// all-gather of updated parameters for sharding 1/2.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "comm/communicator.h"
#include "nn/adamw.h"
#include "nn/model_config.h"
#include "parallel/mesh.h"
#include "parallel/plan.h"
#include "parallel/schedule.h"

namespace loom::parallel {

struct ParallelOptions {
  uint64_t seed = 1;
  nn::AdamWOptions adamw;
  float grad_clip = 1.0f;
};

struct ParallelStepResult {
  float loss = 0.0f;       // mean over the global batch (the same on every rank)
  double grad_norm = 0.0;  // before clipping
  double step_ms = 0.0;
  // Of step_ms on this rank: waiting for gradient and parameter collectives that compute did not
  // hide (exposed communication), and waiting for pipeline neighbours (bubble, with transfers).
  double exposed_comm_ms = 0.0;
  double pipeline_wait_ms = 0.0;
  double compute_ms = 0.0;  // the rest
};

class ParallelTrainer {
 public:
  // Collective over `world`: every rank constructs it with the same plan, model and options.
  // The plan must have been validated against the model and the world size.
  ParallelTrainer(std::shared_ptr<comm::Communicator> world, const ParallelPlan& plan, const nn::ModelConfig& model,
                  const ParallelOptions& options);
  ~ParallelTrainer();
  ParallelTrainer(const ParallelTrainer&) = delete;
  ParallelTrainer& operator=(const ParallelTrainer&) = delete;

  // One optimizer step on the global batch: ids and targets [global_batch, T] i32, identical on
  // every rank; lr for this step.
  ParallelStepResult step(const Tensor& ids, const Tensor& targets, float lr);

  // The mean loss of a global batch with the current parameters, forward only (collective; the
  // same value on every rank).
  float evaluate(const Tensor& ids, const Tensor& targets);

  // The whole training state in the single-process checkpoint's names and order: every
  // parameter, then "adam.m.<name>" and "adam.v.<name>" for each (collective; every rank receives
  // all of them). A checkpoint made of it resumes under any plan, or in one process.
  std::vector<std::pair<std::string, Tensor>> full_state();
  // Takes this rank's shards of a whole state as full_state() returns it (every rank passes all
  // of it), and the number of optimizer steps already taken.
  void load_full_state(const std::vector<std::pair<std::string, Tensor>>& state, int64_t optimizer_steps);
  int64_t optimizer_steps() const;

  // Every parameter whole, in the single-process model's order and with its names (collective:
  // every rank receives all of them). For tests and checkpoints.
  std::vector<std::pair<std::string, Tensor>> full_parameters();

  const ParallelPlan& plan() const;
  const PipelineProgram& program() const;
  DeviceMesh& mesh();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace loom::parallel
