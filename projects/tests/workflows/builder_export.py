# Exported from Agent Builder: one Agents SDK file with tools, agents and an async entry point.
from agents import Agent, ModelSettings, RunConfig, Runner, TResponseInputItem, function_tool, handoff
from pydantic import BaseModel


@function_tool
def lookup_order(order_id: str) -> str:
    """Look an order up by its id."""
    return f"Order {order_id}: shipped on Monday"


@function_tool(name_override="refund")
async def issue_refund(order_id: str, amount: float) -> str:
    """Refund part or all of an order."""
    return f"Refunded {amount} on {order_id}"


shipping_agent = Agent(
    name="Shipping Desk",
    handoff_description="Answers questions about where an order is",
    instructions="Look the order up and say where it is.",
    model="gpt-5-mini",
    tools=[lookup_order],
)

refunds_agent = Agent(
    name="Refunds",
    handoff_description="Handles refund requests",
    instructions="Refund when the order qualifies.",
    model="gpt-5-mini",
    model_settings=ModelSettings(temperature=0.2),
    tools=[lookup_order, issue_refund],
)

triage_agent = Agent(
    name="Triage",
    instructions="Route the customer to the right desk.",
    model="gpt-5",
    handoffs=[shipping_agent, handoff(agent=refunds_agent)],
)


class WorkflowInput(BaseModel):
    input_as_text: str


async def run_workflow(workflow_input: WorkflowInput):
    conversation: list[TResponseInputItem] = [
        {"role": "user", "content": [{"type": "input_text", "text": workflow_input.input_as_text}]}
    ]
    result = await Runner.run(
        triage_agent, input=conversation, run_config=RunConfig(trace_metadata={"source": "builder"})
    )
    return {"output_text": result.final_output_as(str)}
