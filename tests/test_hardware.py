"""The CPU capabilities stated beside speed figures, read from fake /proc/cpuinfo texts."""

import platform

import pytest
import torch as th

from sb3_sacx.hardware import (
    TrainingHardware,
    cpu_capabilities,
    describe,
    native_bfloat16,
    parse_cpuinfo,
    training_hardware,
    tune_glibc_malloc,
)

EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 avx fma avx2 bmi2

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 avx fma avx2 bmi2
"""
SAPPHIRE_RAPIDS = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu avx2 avx512f avx512bw avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8
"""
COOPER_LAKE = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8380H CPU @ 2.90GHz
flags\t\t: fpu avx2 avx512f avx512_bf16
"""
GRAVITON = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid bf16 i8mm
CPU implementer\t: 0x41
"""


def test_flags_present_and_absent() -> None:
    assert parse_cpuinfo(EPYC) == {
        "model": "AMD EPYC 7B13",
        "avx512_bf16": False,
        "amx_bf16": False,
        "amx_tile": False,
        "avx512f": False,
        "avx2": True,
    }
    assert parse_cpuinfo(SAPPHIRE_RAPIDS) == {
        "model": "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz",
        "avx512_bf16": True,
        "amx_bf16": True,
        "amx_tile": True,
        "avx512f": True,
        "avx2": True,
    }
    # avx512_bf16 is not mistaken for avx512f, nor amx_int8 for amx_bf16: flags match whole words
    assert parse_cpuinfo("flags : avx512_bf16 amx_int8\n") == {
        "model": "",
        "avx512_bf16": True,
        "amx_bf16": False,
        "amx_tile": False,
        "avx512f": False,
        "avx2": False,
    }


def test_non_x86_and_missing_cpuinfo_fall_back_to_platform() -> None:
    for text in (GRAVITON, ""):
        capabilities = cpu_capabilities(text)
        assert capabilities["model"] == (platform.processor() or platform.machine() or "unknown CPU")
        assert not any(capabilities[flag] for flag in ("avx512_bf16", "amx_bf16", "amx_tile", "avx512f", "avx2"))
        assert capabilities["threads"] == th.get_num_threads() and capabilities["torch"] == th.__version__


def test_description_names_the_cpu_and_its_bfloat16_support() -> None:
    line = describe(cpu_capabilities(SAPPHIRE_RAPIDS))
    assert line.startswith("Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz; AVX2 yes, AVX-512 yes, AVX512-BF16 yes, AMX yes;")
    assert f"{th.get_num_threads()} thread(s); torch {th.__version__}" in line
    assert "AVX-512 no, AVX512-BF16 no, AMX no" in describe(cpu_capabilities(EPYC))


@pytest.mark.parametrize(
    "cpuinfo, native", [(EPYC, False), (SAPPHIRE_RAPIDS, True), (COOPER_LAKE, True), (GRAVITON, False), ("", False)]
)
def test_native_bfloat16_on_cpu(cpuinfo: str, native: bool) -> None:
    assert native_bfloat16(th.device("cpu"), cpuinfo) is native
    assert native_bfloat16("cpu", cpuinfo) is native


def test_native_bfloat16_elsewhere() -> None:
    assert native_bfloat16("meta", SAPPHIRE_RAPIDS) is False
    if th.cuda.is_available():
        assert native_bfloat16("cuda") is th.cuda.is_bf16_supported()


class RecordingLibc:
    def __init__(self, result: int = 1) -> None:
        self.calls: list[tuple[int, int]] = []
        self.result = result

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append((parameter, value))
        return self.result


def test_tune_glibc_malloc_sets_the_thresholds_unless_the_user_has_a_say() -> None:
    libc = RecordingLibc()
    assert tune_glibc_malloc(environ={}, libc=libc)
    assert dict(libc.calls) == {-3: 16 * 2**20, -1: 2**30, -2: 256 * 2**20}
    for environ in ({"MALLOC_ARENA_MAX": "2"}, {"SB3_SACX_TUNE_MALLOC": "0"}):
        untouched = RecordingLibc()
        assert not tune_glibc_malloc(environ=environ, libc=untouched) and not untouched.calls
    assert not tune_glibc_malloc(environ={}, libc=RecordingLibc(result=0))  # mallopt refused


def test_tune_glibc_malloc_on_this_machine_applies_or_declines_cleanly() -> None:
    assert isinstance(tune_glibc_malloc(environ={}), bool)


@pytest.mark.parametrize(
    ("mixed_precision", "native", "bfloat16"), [(False, True, False), ("auto", True, True), ("auto", False, False)]
)
def test_training_hardware_decides_precision_and_fused_adam(monkeypatch, mixed_precision, native, bfloat16) -> None:
    monkeypatch.setattr("sb3_sacx.hardware.native_bfloat16", lambda device: native)
    hardware = training_hardware(th.device("cpu"), mixed_precision)
    assert hardware == TrainingHardware(bfloat16=bfloat16, fused_adam=True)
    assert hardware.optimizer_kwargs({}) == {"optimizer_kwargs": {"fused": True}}
    assert hardware.optimizer_kwargs({"optimizer_kwargs": {"fused": False, "eps": 1e-5}}) == {
        "optimizer_kwargs": {"fused": False, "eps": 1e-5}
    }
    assert hardware.optimizer_kwargs({"optimizer_class": th.optim.SGD}) == {}
    assert TrainingHardware(bfloat16=False, fused_adam=False).optimizer_kwargs({}) == {}
    assert training_hardware(th.device("meta"), False).fused_adam is False
