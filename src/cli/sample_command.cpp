// loom sample: generate text (or token ids) from a checkpoint.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "nn/generate.h"
#include "train/session.h"

namespace loom::cli {

namespace {

struct SampleFlags {
  std::string resume;
  std::string prompt = "The ";
  nn::SampleOptions options;
  int threads = 0;
};

void run_sample(SampleFlags& flags) {
  apply_thread_count(flags.threads);
  nlohmann::json metadata;
  const auto model = train::TrainSession::load_model(flags.resume, &metadata);
  const bool byte_level = metadata.at("data").value("byte_level", false);
  std::vector<int32_t> prompt;
  if (byte_level) {
    for (unsigned char c : flags.prompt) prompt.push_back(c);
  } else {
    // Token-file models take the prompt as space-separated token ids.
    std::string text = flags.prompt;
    size_t position = 0;
    while (position < text.size()) {
      while (position < text.size() && text[position] == ' ') ++position;
      if (position >= text.size()) break;
      size_t end = position;
      while (end < text.size() && text[end] != ' ') ++end;
      try {
        prompt.push_back(std::stoi(text.substr(position, end - position)));
      } catch (const std::exception&) {
        throw_user_error("--prompt '{}': this model was trained on token ids; give space-separated integers",
                         flags.prompt);
      }
      position = end;
    }
  }
  const std::vector<int32_t> generated = nn::generate(*model, prompt, flags.options);
  if (byte_level) {
    std::string text = flags.prompt;
    for (int32_t id : generated) text.push_back(static_cast<char>(id));
    fmt::print("{}\n", text);
  } else {
    fmt::print("{} | {}\n", flags.prompt, fmt::join(generated, " "));
  }
}

}  // namespace

void add_sample_command(CLI::App& app) {
  auto flags = std::make_shared<SampleFlags>();
  CLI::App* command = app.add_subcommand("sample", "Generate text from a checkpoint");
  command->add_option("--resume", flags->resume, "Checkpoint directory written by loom train --save")->required();
  command->add_option("--prompt", flags->prompt, "Text to continue (token ids for token-file models)")
      ->capture_default_str();
  command->add_option("--tokens", flags->options.tokens, "Tokens to generate")->capture_default_str();
  command->add_option("--temperature", flags->options.temperature, "Sampling temperature (0: greedy)")
      ->capture_default_str();
  command->add_option("--top-k", flags->options.top_k, "Sample among the k most likely tokens (0: all)")
      ->capture_default_str();
  command->add_option("--seed", flags->options.seed, "Sampling seed")->capture_default_str();
  command->add_option("--threads", flags->threads, "Compute threads (0: all cores)");
  command->callback([flags] { run_sample(*flags); });
}

}  // namespace loom::cli
