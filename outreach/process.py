"""Garbage-collector settings for the processes that run the app: CLI commands, workers' jobs, web workers."""
import gc

# Objects allocated between collections of the youngest generation (CPython's default is 700). An import
# makes hundreds of thousands of small objects and keeps most of them to the end: collecting every 700 walks
# them over and over, a tenth of a re-sync's time. Cycles are still collected, a little later.
_YOUNG_GENERATION_THRESHOLD = 50_000


def settle_after_start() -> None:
    """Call once the app is created: the modules and the app live as long as the process, so full collections
    need not walk their objects again (gc.freeze), and young objects are collected less often."""
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(_YOUNG_GENERATION_THRESHOLD, middle, oldest)
