"""Running untrusted code with limits (see docs/sandbox.md for what is and is not enforced).

>>> from archon.sandbox import run_python
>>> run_python("print(1 + 1)").stdout
'2\\n'
"""

from archon.sandbox.run import Capabilities, SandboxResult, Status, capabilities, run_python

__all__ = ["Capabilities", "SandboxResult", "Status", "capabilities", "run_python"]
