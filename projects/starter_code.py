"""Workflow code that new projects start from."""

STARTER_WORKFLOW = '''"""A minimal OpenAI Agents SDK workflow. Edit it by talking to the vibecoder."""

from agents import Agent

assistant_agent = Agent(
    name="Assistant",
    instructions="You are a helpful assistant. Answer clearly and briefly.",
)
'''

TRIAGE_WORKFLOW = '''"""Agent Triage System: a triage agent that hands each request to the right specialist."""

from agents import Agent, function_tool


@function_tool
def lookup_order(order_id: str) -> str:
    """Look up the status of an order by its id."""
    return f"Order {order_id} has shipped and arrives in 2 days."


@function_tool
def reset_password(email: str) -> str:
    """Send a password reset link to the given email address."""
    return f"A password reset link was sent to {email}."


billing_agent = Agent(
    name="Billing Agent",
    handoff_description="Specialist for invoices, payments, refunds and orders.",
    instructions="You handle billing questions. Use lookup_order for order status. Be precise about amounts.",
    tools=[lookup_order],
)

technical_agent = Agent(
    name="Technical Support Agent",
    handoff_description="Specialist for login problems, errors and product troubleshooting.",
    instructions="You solve technical problems step by step. Use reset_password for login issues.",
    tools=[reset_password],
)

general_agent = Agent(
    name="General Agent",
    handoff_description="Answers general questions about the company and its products.",
    instructions="You answer general questions politely and concisely.",
)

triage_agent = Agent(
    name="Triage Agent",
    instructions=(
        "You read each customer request and hand it off to the specialist best suited to it: "
        "billing, technical support, or general questions."
    ),
    handoffs=[billing_agent, technical_agent, general_agent],
)
'''
