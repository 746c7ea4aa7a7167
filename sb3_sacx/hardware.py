"""
What the machine offers the gradient step: the CPU's vector and matrix extensions, and whether bfloat16 runs natively.

Speed figures mean little without them (SPEC section 7): ``mixed_precision=True`` is about twice as fast as float32 on
a CPU with AVX512-BF16 or AMX and many times slower on one that emulates bfloat16.
"""

import platform
from pathlib import Path
from typing import Optional, Union

import torch as th

CPUINFO = Path("/proc/cpuinfo")

#: The ``/proc/cpuinfo`` flags reported.
CPU_FLAGS = ("avx512_bf16", "amx_bf16", "amx_tile", "avx512f", "avx2")


def parse_cpuinfo(text: str) -> dict[str, Union[str, bool]]:
    """
    The first processor's model name and capability flags in the text of Linux's ``/proc/cpuinfo``.

    :param text: the file's content.
    :return: ``model`` (empty if the text names none, as on some ARM kernels) and one boolean per flag in
        :data:`CPU_FLAGS`: all False where the text has no x86 ``flags`` line.
    """
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, separator, value = line.partition(":")
        if separator:
            fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    return {"model": fields.get("model name", ""), **{flag: flag in flags for flag in CPU_FLAGS}}


def read_cpuinfo() -> str:
    """:return: the text of ``/proc/cpuinfo``, or an empty string where there is none (macOS, Windows)."""
    return CPUINFO.read_text() if CPUINFO.is_file() else ""


def cpu_capabilities(cpuinfo: Optional[str] = None) -> dict[str, Union[str, bool, int]]:
    """
    The CPU's model and capabilities, with the torch threads and version, to state beside a speed figure.

    :param cpuinfo: the text of ``/proc/cpuinfo`` (read by :func:`read_cpuinfo` if None); where it names no model,
        the model comes from :mod:`platform`, and where it has no x86 flags, every flag is False.
    :return: ``model``, one boolean per flag in :data:`CPU_FLAGS`, ``torch_cpu_capability`` (the vector instructions
        torch's CPU kernels use), ``threads`` (``torch.get_num_threads()``) and ``torch`` (its version).
    """
    capabilities: dict[str, Union[str, bool, int]] = dict(parse_cpuinfo(read_cpuinfo() if cpuinfo is None else cpuinfo))
    if not capabilities["model"]:
        capabilities["model"] = platform.processor() or platform.machine() or "unknown CPU"
    capabilities.update(
        torch_cpu_capability=th.backends.cpu.get_cpu_capability(), threads=th.get_num_threads(), torch=th.__version__
    )
    return capabilities


def describe(capabilities: dict[str, Union[str, bool, int]]) -> str:
    """
    One line for a report, e.g.
    ``AMD EPYC; AVX2 yes, AVX-512 no, AVX512-BF16 no, AMX no; torch kernels AVX2, 1 thread(s); torch 2.13.0``.

    :param capabilities: as returned by :func:`cpu_capabilities`.
    """

    def yes(present: Union[str, bool, int]) -> str:
        return "yes" if present else "no"

    amx = capabilities["amx_bf16"] and capabilities["amx_tile"]
    kernels = capabilities["torch_cpu_capability"]
    return (
        f"{capabilities['model']}; AVX2 {yes(capabilities['avx2'])}, AVX-512 {yes(capabilities['avx512f'])}, "
        f"AVX512-BF16 {yes(capabilities['avx512_bf16'])}, AMX {yes(amx)}; torch kernels {kernels}, "
        f"{capabilities['threads']} thread(s); torch {capabilities['torch']}"
    )


def native_bfloat16(device: Union[th.device, str], cpuinfo: Optional[str] = None) -> bool:
    """
    Whether bfloat16 matrix multiplies run in hardware on ``device`` rather than emulated (many times slower).

    :param device: the device of the gradient step.
    :param cpuinfo: for a CPU device, the text of ``/proc/cpuinfo`` (read from the file if None).
    :return: on CUDA, ``torch.cuda.is_bf16_supported()``; on a CPU, whether it has AVX512-BF16 or AMX-BF16;
        False on any other device.
    """
    device = th.device(device)
    if device.type == "cuda":
        return th.cuda.is_bf16_supported()
    if device.type == "cpu":
        flags = parse_cpuinfo(read_cpuinfo() if cpuinfo is None else cpuinfo)
        return bool(flags["avx512_bf16"] or flags["amx_bf16"])
    return False
