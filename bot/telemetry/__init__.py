"""What the bot measures as it works, read by /metrics and /healthz (bot/ops/status.py).

metrics (:class:`Metrics`, Prometheus counters, histograms and gauges) and liveness
(:class:`Liveness`, when it last polled and heard the Bot API). The parts that do the work
(feeds, delivery) record into them; nothing here imports them back.
"""

from bot.telemetry.liveness import Liveness
from bot.telemetry.metrics import Metrics

__all__ = ["Liveness", "Metrics"]
