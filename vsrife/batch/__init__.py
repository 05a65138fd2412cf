"""Batch jobs: a video split into chunks that give exactly the frames of one run, interpolated on
many workers (Ray tasks, or local processes), joined, with the source's other streams copied.

``vsrife batch`` and ``vsrife interpolate --workers`` (see the README's "Batch jobs on many
machines"). Modules: :mod:`.chunks` (where a video may be split), :mod:`.source` (the driver's look
at a source), :mod:`.worker` (one chunk on a worker), :mod:`.executors` (Ray, local processes),
:mod:`.manifest` (finished chunks, for resume), :mod:`.job` (the driver, the join), :mod:`.command`
(the command line). Nothing is imported here: Ray and VapourSynth load only when a job runs.
"""
