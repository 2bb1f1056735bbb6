"""The embedded simulator: a Realtime GA server on a real WebSocket, with a scripted "model".

See docs/simulator.md. `run_simulator()` serves it; `mcp_voice.upstreams.open_upstream("sim", ...)`
starts one and connects to it.
"""

from mcp_voice.sim.config import SimConfig
from mcp_voice.sim.server import Simulator, run_simulator

__all__ = ["SimConfig", "Simulator", "run_simulator"]
