"""The email designer's engine: design JSON (`schema`), its compilation to responsive email
HTML through MJML (`compiler`), and the checks run before sending (`checks`)."""

from .checks import Check, check_template
from .compiler import CompiledDesign, compile_design
from .schema import Design, DesignError, Problem, validate_design

__all__ = [
    "Check",
    "CompiledDesign",
    "Design",
    "DesignError",
    "Problem",
    "check_template",
    "compile_design",
    "validate_design",
]
