// What LLVM's C API cannot do: watch the pass pipeline and code generation at work.
//
// `mewz_run_passes` is `LLVMRunPasses` (llvm/lib/Passes/PassBuilderBindings.cpp, LLVM 19) with
// the default options, plus pass instrumentation that reports each pass run to an observer:
// which pass, on which function, for how long (its own CPU time, without the passes it ran).
// `mewz_emit_object` is `LLVMTargetMachineEmitToMemoryBuffer` (llvm/lib/Target/
// TargetMachineC.cpp) plus a pass after the last code generation pass of each function, which
// reports the function done and the CPU time since the previous one. Neither changes what LLVM
// does: the objects are the same, byte for byte.

#include "llvm-c/Core.h"
#include "llvm-c/Error.h"
#include "llvm-c/TargetMachine.h"
#include "llvm/ADT/Any.h"
#include "llvm/Analysis/LazyCallGraph.h"
#include "llvm/Analysis/LoopInfo.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/PassInstrumentation.h"
#include "llvm/Pass.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Passes/StandardInstrumentations.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

#include <cstdint>
#include <cstring>
#include <ctime>
#include <vector>

using namespace llvm;

extern "C" {
// Called for each pass run: the pass, the function it ran on (empty for a module pass) and
// its own CPU time in nanoseconds.
typedef void (*mewz_pass_ran)(void *context, const char *pass, size_t pass_len,
                              const char *function, size_t function_len, uint64_t nanos);
// Called when code generation finished a function, with the CPU nanoseconds since the
// previous one.
typedef void (*mewz_function_emitted)(void *context, const char *function, size_t function_len,
                                      uint64_t nanos);
}

namespace {

// CPU time of the calling thread: on a machine shared with other work, wall time would count
// the time the thread waited for a core.
uint64_t thread_cpu_nanos() {
  struct timespec Now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &Now);
  return uint64_t(Now.tv_sec) * 1000000000u + uint64_t(Now.tv_nsec);
}

uint64_t nanos_since(uint64_t Start) {
  uint64_t Now = thread_cpu_nanos();
  return Now > Start ? Now - Start : 0;
}

// The function a unit of IR belongs to, or "" for a module.
StringRef function_of(Any IR) {
  if (const auto *F = llvm::any_cast<const Function *>(&IR))
    return (*F)->getName();
  if (const auto *L = llvm::any_cast<const Loop *>(&IR))
    return (*L)->getHeader()->getParent()->getName();
  if (const auto *C = llvm::any_cast<const LazyCallGraph::SCC *>(&IR))
    return (*C)->begin()->getFunction().getName();
  return "";
}

// Times the passes of one pipeline run. Passes nest (a pass manager runs passes, an adaptor
// runs a function pass on every function): each frame takes its children's time off its own.
class PassTimer {
public:
  PassTimer(mewz_pass_ran Report, void *Context) : Report(Report), Context(Context) {}

  void registerCallbacks(PassInstrumentationCallbacks &PIC) {
    PIC.registerBeforeNonSkippedPassCallback(
        [this](StringRef, Any) { Frames.push_back({thread_cpu_nanos(), 0}); });
    PIC.registerAfterPassCallback(
        [this](StringRef Pass, Any IR, const PreservedAnalyses &) { pop(Pass, function_of(IR)); });
    // The IR may be gone (a function deleted by the pass): no function to name then.
    PIC.registerAfterPassInvalidatedCallback(
        [this](StringRef Pass, const PreservedAnalyses &) { pop(Pass, ""); });
  }

private:
  struct Frame {
    uint64_t Start;
    uint64_t ChildNanos;
  };

  void pop(StringRef Pass, StringRef Function) {
    if (Frames.empty())
      return;
    Frame Done = Frames.back();
    Frames.pop_back();
    uint64_t Total = nanos_since(Done.Start);
    uint64_t Own = Total > Done.ChildNanos ? Total - Done.ChildNanos : 0;
    if (!Frames.empty())
      Frames.back().ChildNanos += Total;
    Report(Context, Pass.data(), Pass.size(), Function.data(), Function.size(), Own);
  }

  mewz_pass_ran Report;
  void *Context;
  std::vector<Frame> Frames;
};

// The last pass of each function's code generation (legacy pass manager).
class FunctionEmitted : public FunctionPass {
public:
  static char ID;
  FunctionEmitted(mewz_function_emitted Report, void *Context)
      : FunctionPass(ID), Report(Report), Context(Context), Last(thread_cpu_nanos()) {}

  bool runOnFunction(Function &F) override {
    Report(Context, F.getName().data(), F.getName().size(), nanos_since(Last));
    Last = thread_cpu_nanos();
    return false;
  }

  void getAnalysisUsage(AnalysisUsage &AU) const override { AU.setPreservesAll(); }
  StringRef getPassName() const override { return "mewz: function emitted"; }

private:
  mewz_function_emitted Report;
  void *Context;
  uint64_t Last;
};

char FunctionEmitted::ID = 0;

} // namespace

extern "C" uint64_t mewz_thread_cpu_nanos() { return thread_cpu_nanos(); }

extern "C" LLVMErrorRef mewz_run_passes(LLVMModuleRef M, const char *Passes,
                                        LLVMTargetMachineRef TM, mewz_pass_ran Report,
                                        void *Context) {
  Module *Mod = unwrap(M);
  TargetMachine *Machine = reinterpret_cast<TargetMachine *>(TM);
  PassInstrumentationCallbacks PIC;
  PassBuilder PB(Machine, PipelineTuningOptions(), std::nullopt, &PIC);

  LoopAnalysisManager LAM;
  FunctionAnalysisManager FAM;
  CGSCCAnalysisManager CGAM;
  ModuleAnalysisManager MAM;
  PB.registerLoopAnalyses(LAM);
  PB.registerFunctionAnalyses(FAM);
  PB.registerCGSCCAnalyses(CGAM);
  PB.registerModuleAnalyses(MAM);
  PB.crossRegisterProxies(LAM, FAM, CGAM, MAM);

  StandardInstrumentations SI(Mod->getContext(), /*DebugLogging=*/false, /*VerifyEach=*/false);
  SI.registerCallbacks(PIC, &MAM);
  PassTimer Timer(Report, Context);
  if (Report)
    Timer.registerCallbacks(PIC);

  ModulePassManager MPM;
  if (auto Err = PB.parsePassPipeline(MPM, Passes))
    return wrap(std::move(Err));
  MPM.run(*Mod, MAM);
  return LLVMErrorSuccess;
}

// Returns null on success, else an error message for LLVMDisposeMessage.
extern "C" char *mewz_emit_object(LLVMTargetMachineRef TM, LLVMModuleRef M,
                                  mewz_function_emitted Report, void *Context,
                                  LLVMMemoryBufferRef *Out) {
  TargetMachine *Machine = reinterpret_cast<TargetMachine *>(TM);
  Module *Mod = unwrap(M);
  Mod->setDataLayout(Machine->createDataLayout());
  SmallString<0> Code;
  raw_svector_ostream Stream(Code);
  legacy::PassManager PM;
  if (Machine->addPassesToEmitFile(PM, Stream, nullptr, CodeGenFileType::ObjectFile))
    return strdup("TargetMachine can't emit a file of this type");
  if (Report)
    PM.add(new FunctionEmitted(Report, Context));
  PM.run(*Mod);
  *Out = LLVMCreateMemoryBufferWithMemoryRangeCopy(Code.data(), Code.size(), "");
  return nullptr;
}
