"""Discovery: each value of schema.OUTPUTS as an SSM parameter and a stack output."""

from __future__ import annotations

from aws_cdk import CfnOutput
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from hyper_tui.aws import schema


class Discovery(Construct):
    """``parameters[key]`` and ``outputs[key]`` for every key of schema.OUTPUTS; the outputs'
    logical ids are the keys themselves (``ApiUrl``...)."""

    def __init__(self, scope: Construct, id: str, *, host: str, values: dict[str, str]) -> None:
        super().__init__(scope, id)
        missing = [k for k in schema.OUTPUTS if k not in values]
        if missing:
            raise ValueError(f"discovery values missing: {', '.join(missing)}")
        self.parameters: dict[str, ssm.StringParameter] = {}
        self.outputs: dict[str, CfnOutput] = {}
        for key in schema.OUTPUTS:
            self.parameters[key] = ssm.StringParameter(
                self, f"Param{key}", parameter_name=schema.ssm_parameter_name(host, key),
                string_value=values[key], description=f"hyper-tui {host}: {key}")
            out = CfnOutput(self, key, value=values[key], description=f"hyper-tui {host}: {key}")
            out.override_logical_id(key)
            self.outputs[key] = out
