#include "diffmem/core/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "diffmem/core/error.h"
#include "diffmem/core/log.h"

extern char** environ;

namespace diffmem::core {
namespace fs = std::filesystem;

std::vector<std::string> split_command_template(const std::string& text, const std::string& where) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  enum { kPlain, kSingle, kDouble } state = kPlain;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (state == kSingle) {
      if (c == '\'') state = kPlain;
      else cur += c;
    } else if (state == kDouble) {
      if (c == '"') {
        state = kPlain;
      } else if (c == '\\' && i + 1 < text.size() &&
                 std::strchr("\"\\$`\n", text[i + 1]) != nullptr) {
        if (text[i + 1] != '\n') cur += text[i + 1];
        ++i;
      } else {
        cur += c;
      }
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(cur);
      cur.clear();
      in_word = false;
    } else {
      in_word = true;
      if (c == '\'') {
        state = kSingle;
      } else if (c == '"') {
        state = kDouble;
      } else if (c == '\\') {
        if (i + 1 >= text.size()) fail(where, "a character after the final backslash", "the end");
        if (text[i + 1] != '\n') cur += text[i + 1];
        ++i;
      } else {
        cur += c;
      }
    }
  }
  if (state != kPlain)
    fail(where, std::string("a closing ") + (state == kSingle ? "'" : "\"") + " quote",
         "the end of the command");
  if (in_word) words.push_back(cur);
  if (words.empty()) fail(where, "a command (program and arguments)", "an empty template");
  return words;
}

std::vector<std::string> fill_template(const std::vector<std::string>& words,
                                       const std::map<std::string, std::string>& values,
                                       const std::string& where) {
  std::vector<std::string> out;
  out.reserve(words.size());
  for (const std::string& w : words) {
    std::string r;
    for (size_t i = 0; i < w.size(); ++i) {
      if (w[i] == '{' && i + 1 < w.size() && w[i + 1] == '{') {
        r += '{';
        ++i;
      } else if (w[i] == '}' && i + 1 < w.size() && w[i + 1] == '}') {
        r += '}';
        ++i;
      } else if (w[i] == '{') {
        const size_t close = w.find('}', i);
        const std::string name = close == std::string::npos ? w.substr(i) : w.substr(i + 1, close - i - 1);
        auto it = close == std::string::npos ? values.end() : values.find(name);
        if (it == values.end()) {
          std::string known;
          for (const auto& kv : values) known += (known.empty() ? "{" : ", {") + kv.first + "}";
          fail(where, "placeholders " + known + " (write {{ and }} for literal braces)",
               "'" + (close == std::string::npos ? name : "{" + name + "}") + "' in word '" + w + "'");
        }
        r += it->second;
        i = close;
      } else {
        r += w[i];
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

bool template_uses(const std::vector<std::string>& words, const std::string& name) {
  const std::string token = "{" + name + "}";
  for (const std::string& w : words) {
    // A `{{name}}` is a literal, not a use: strip escaped braces before looking.
    std::string plain;
    for (size_t i = 0; i < w.size(); ++i) {
      if ((w[i] == '{' || w[i] == '}') && i + 1 < w.size() && w[i + 1] == w[i]) {
        plain += '\x01';
        ++i;
      } else {
        plain += w[i];
      }
    }
    if (plain.find(token) != std::string::npos) return true;
  }
  return false;
}

std::string ProcessOutcome::describe() const {
  if (!error.empty()) return "could not start: " + error;
  if (timed_out) return "timed out (killed)";
  if (signal != 0) return "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  return "exit status " + std::to_string(exit_code);
}

ProcessOutcome run_process(const std::vector<std::string>& argv, const fs::path& log,
                           double timeout_s) {
  ProcessOutcome o;
  if (argv.empty()) {
    o.error = "empty argv";
    return o;
  }
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  const std::string log_s = log.string();
  if (!log.empty()) {
    posix_spawn_file_actions_addopen(&fa, 1, log_s.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
  }
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    o.error = std::string(std::strerror(rc)) + " (" + argv[0] + ")";
    return o;
  }

  int status = 0;
  if (timeout_s <= 0) {
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  } else {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    auto nap = std::chrono::milliseconds(1);
    for (;;) {
      const pid_t w = waitpid(pid, &status, WNOHANG);
      if (w == pid || (w < 0 && errno != EINTR)) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        o.timed_out = true;
        break;
      }
      std::this_thread::sleep_for(nap);
      nap = std::min(nap * 2, std::chrono::milliseconds(50));
    }
  }
  if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
  return o;
}

}  // namespace diffmem::core
