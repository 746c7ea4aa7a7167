"""
What the machine offers the gradient step: the CPU's vector and matrix extensions, and whether bfloat16 runs natively.

Speed figures mean little without them: ``mixed_precision=True`` is about twice as fast as float32 on
a CPU with AVX512-BF16 or AMX and many times slower on one that emulates bfloat16.
"""

import ctypes
import ctypes.util
import functools
import os
import platform
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

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


# glibc's mallopt parameters (malloc.h) and the values SACX sets: a gradient step allocates and frees tens of MB of
# temporaries; with glibc's defaults each such block is mmap'd and unmapped again, ~3,500 page faults per step
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MALLOC_SETTINGS = {M_MMAP_THRESHOLD: 16 << 20, M_TRIM_THRESHOLD: 1 << 30, M_TOP_PAD: 256 << 20}
#: Environment variable that turns :func:`tune_glibc_malloc` off when set to ``0``.
TUNE_MALLOC_VARIABLE = "SB3_SACX_TUNE_MALLOC"


def tune_glibc_malloc(environ: Optional[Mapping[str, str]] = None, libc: Optional[Any] = None) -> bool:
    """
    Keep the gradient step's temporaries in glibc's heap instead of mapping and unmapping them at every step, as
    ``MALLOC_MMAP_THRESHOLD_=16777216 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=268435456`` would: page faults
    per gradient step ~3,500 -> 0, 9-15 ms less per default step on an AVX2 CPU (measured with
    ``benchmarks/throughput.py``'s configuration). The price: up to ~1 GB of freed memory stays with the process.

    It changes the whole process's allocator, so it does nothing where the user has a say already: any ``MALLOC_*``
    variable set, ``SB3_SACX_TUNE_MALLOC=0``, or a C library other than glibc.

    :param environ: the environment (``os.environ`` if None).
    :param libc: the C library to call ``mallopt`` on (glibc's, loaded with ctypes, if None).
    :return: whether the settings were applied.
    """
    environ = os.environ if environ is None else environ
    if environ.get(TUNE_MALLOC_VARIABLE) == "0" or any(name.startswith("MALLOC_") for name in environ):
        return False
    if libc is None:
        if platform.libc_ver()[0] != "glibc":
            return False
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
    return all(libc.mallopt(parameter, value) == 1 for parameter, value in MALLOC_SETTINGS.items())


# The allocator's settings are the process's: made once, not at every model built or loaded (each call reads the
# interpreter's binary to find its C library)
_tune_glibc_malloc_once = functools.cache(tune_glibc_malloc)

#: Devices with a fused Adam kernel (torch >= 2.4).
FUSED_ADAM_DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class TrainingHardware:
    """
    How the gradient steps run on a device, as :func:`training_hardware` decides it.

    :param bfloat16: the network passes under ``torch.autocast`` in bfloat16 (``mixed_precision``).
    :param fused_adam: Adam's fused implementation (one kernel for all of a network's parameters, ~2.5 ms less per
        gradient step on a CPU, the same algorithm).
    """

    bfloat16: bool
    fused_adam: bool

    def autocast(self, device: th.device) -> th.autocast:
        """
        The context of the gradient step's network passes and losses: bfloat16 under ``mixed_precision``. Backward
        passes and optimiser steps stay outside it, as PyTorch's AMP guidance says. No weight-cast cache: the critics
        change in place halfway through a step.

        :param device: the device of the gradient step.
        :return: the context manager.
        """
        return th.autocast(device.type, dtype=th.bfloat16, enabled=self.bfloat16, cache_enabled=False)

    def optimizer_kwargs(self, policy_kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """
        ``policy_kwargs`` entries that turn fused Adam on, where the optimiser is Adam or AdamW; ``optimizer_kwargs``
        given in ``policy_kwargs`` win, ``fused=False`` included.

        :param policy_kwargs: the model's policy keyword arguments.
        :return: ``{"optimizer_kwargs": ...}``, or nothing to add.
        """
        if not self.fused_adam or policy_kwargs.get("optimizer_class", th.optim.Adam) not in (th.optim.Adam, th.optim.AdamW):
            return {}
        return {"optimizer_kwargs": {"fused": True, **(policy_kwargs.get("optimizer_kwargs") or {})}}


def training_hardware(device: th.device, mixed_precision: Union[bool, str], verbose: int = 0) -> TrainingHardware:
    """
    Decide, in one place, what the machine lends the gradient steps: bfloat16 matrix multiplies (``mixed_precision``:
    ``"auto"`` only where :func:`native_bfloat16`; ``True`` warns where bfloat16 is emulated and is refused on a GPU
    without it), fused Adam on a CPU or CUDA device, and glibc's allocator kept from unmapping the steps' temporaries
    (:func:`tune_glibc_malloc`, once per process).

    :param device: the device of the gradient step.
    :param mixed_precision: SACX's ``mixed_precision``: True, False or ``"auto"``.
    :param verbose: 1 or more: say what ``"auto"`` chose, and on which CPU.
    :return: the decision.
    """
    _tune_glibc_malloc_once()
    native = native_bfloat16(device)
    if mixed_precision == "auto":
        if verbose >= 1:
            print(
                f"mixed_precision='auto': {'bfloat16' if native else 'float32'} matrix multiplies "
                f"({'native' if native else 'no native'} bfloat16 on {device.type}: {describe(cpu_capabilities())})"
            )
        bfloat16 = native
    else:
        if mixed_precision and not native:
            if device.type == "cuda":
                raise ValueError(f"mixed_precision=True needs bfloat16, which {th.cuda.get_device_name(device)} lacks.")
            warnings.warn(
                "mixed_precision=True on a CPU without AVX512-BF16 or AMX: bfloat16 is emulated there, many times slower "
                "than float32 (18x measured on an AVX2 CPU). mixed_precision='auto' uses it only where it is native."
            )
        bfloat16 = bool(mixed_precision)
    return TrainingHardware(bfloat16=bfloat16, fused_adam=device.type in FUSED_ADAM_DEVICES)
