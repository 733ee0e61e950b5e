# An orchestrator that calls translator agents as tools instead of handing off to them.

from agents import Agent, Runner, WebSearchTool

spanish_agent = Agent(
    name="spanish_agent",
    instructions="You translate the user's message to Spanish",
    handoff_description="An english to spanish translator",
)

french_agent = Agent(
    name="french_agent",
    instructions="You translate the user's message to French",
    handoff_description="An english to french translator",
)

orchestrator_agent = Agent(
    name="orchestrator_agent",
    instructions="You are a translation agent. You use the tools given to you to translate.",
    tools=[
        spanish_agent.as_tool(tool_name="translate_to_spanish", tool_description="Translate to Spanish"),
        french_agent.as_tool(tool_name="translate_to_french", tool_description="Translate to French"),
        WebSearchTool(),
    ],
)

synthesizer_agent = Agent(
    name="synthesizer_agent",
    instructions="You inspect translations, correct them if needed, and produce a final concatenated response.",
)


async def main() -> None:
    orchestrator_result = await Runner.run(orchestrator_agent, "Say 'Hello, how are you?' in Spanish and French.")
    synthesizer_result = await Runner.run(synthesizer_agent, orchestrator_result.to_input_list())
    print(synthesizer_result.final_output)


result = Runner.run_sync(orchestrator_agent, "Hi")
