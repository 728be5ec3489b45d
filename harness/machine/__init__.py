"""What machine this is: its GPUs (one nvidia-smi query helper, one reading of CUDA_VISIBLE_DEVICES), host
facts for runs (host.py), the probes behind the MLPerf system description (probe.py, description.py),
and GPU telemetry during a run (telemetry.py).

Not to be confused with the system knob files (configs/systems/, harness.system_configs), which say how
to run on a kind of machine.
"""
