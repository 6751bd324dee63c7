"""The application commands: names, options and descriptions, wired to their handlers."""

from __future__ import annotations

import discord
from discord import app_commands

from adapters.discord.chat_commands import ChatCommands
from adapters.discord.references import SAVE_MENU, ReferenceCommands
from adapters.discord.steps import InteractionSteps

Interaction = discord.Interaction[discord.Client]
Choices = list[app_commands.Choice[str]]
EDIT_IMAGE_MENU = "Edit image"
HISTORY_MENU = "History"


def register_commands(
    tree: app_commands.CommandTree[discord.Client],
    steps: InteractionSteps,
    chat: ChatCommands,
    refs: ReferenceCommands,
) -> None:
    """Add /edit, /imagine, /settings, /usage, /info, /history, /forget, /help and the Edit
    image and History menus."""

    # Closures, not bound methods: discord.py would pass a bound method's owner as "self".
    async def ratio_for_step(interaction: Interaction, current: str) -> Choices:
        return await steps.complete(interaction, "aspect_ratio", current)

    async def size_for_step(interaction: Interaction, current: str) -> Choices:
        return await steps.complete(interaction, "image_size", current)

    async def ratio_setting(interaction: Interaction, current: str) -> Choices:
        return await chat.complete(interaction, "aspect_ratio", current)

    async def size_setting(interaction: Interaction, current: str) -> Choices:
        return await chat.complete(interaction, "image_size", current)

    async def model_setting(interaction: Interaction, current: str) -> Choices:
        return await chat.complete(interaction, "model", current)

    async def language_setting(interaction: Interaction, current: str) -> Choices:
        return await chat.complete(interaction, "language", current)

    async def previews_setting(interaction: Interaction, current: str) -> Choices:
        return await chat.complete(interaction, "previews", current)

    async def search_setting(interaction: Interaction, current: str) -> Choices:
        return await chat.complete(interaction, "search", current)

    async def usable_reference(interaction: Interaction, current: str) -> Choices:
        return await refs.complete(interaction, current, styles=True)

    async def saved_reference(interaction: Interaction, current: str) -> Choices:
        return await refs.complete(interaction, current, styles=False)

    @tree.command(name="edit", description="Edit an image with an instruction")
    @app_commands.describe(
        image="The picture to edit",
        prompt="What to change",
        image2="Another picture for the model to use",
        image3="Another picture for the model to use",
        image4="Another picture for the model to use",
        aspect_ratio="Shape of the result (default: the channel's setting)",
        size="Resolution of the result, where the model offers it",
        reference="A saved reference or style to use (like #name in the prompt)",
    )
    @app_commands.autocomplete(
        aspect_ratio=ratio_for_step, size=size_for_step, reference=usable_reference
    )
    async def edit(
        interaction: Interaction,
        image: discord.Attachment,
        prompt: str,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        aspect_ratio: str | None = None,
        size: str | None = None,
        reference: str | None = None,
    ) -> None:
        images = [a for a in (image, image2, image3, image4) if a is not None]
        await steps.edit(interaction, prompt, images, aspect_ratio, size, reference)

    @tree.command(name="imagine", description="Make a new image from a description")
    @app_commands.describe(
        prompt="What to draw",
        aspect_ratio="Shape of the result (default: the channel's setting)",
        size="Resolution of the result, where the model offers it",
        reference="A saved reference or style to use (like #name in the prompt)",
    )
    @app_commands.autocomplete(
        aspect_ratio=ratio_for_step, size=size_for_step, reference=usable_reference
    )
    async def imagine(
        interaction: Interaction,
        prompt: str,
        aspect_ratio: str | None = None,
        size: str | None = None,
        reference: str | None = None,
    ) -> None:
        await steps.imagine(interaction, prompt, aspect_ratio, size, reference)

    @tree.context_menu(name=EDIT_IMAGE_MENU)
    async def edit_image(interaction: Interaction, message: discord.Message) -> None:
        await steps.edit_menu(interaction, message)

    @tree.command(name="settings", description="Show or change this channel's image settings")
    @app_commands.describe(
        aspect_ratio="Default shape of results",
        size="Default resolution (only models with sizes)",
        model="Gemini model for this channel",
        language="Language of the bot's messages here",
        previews="Show the model's drafts while it works (thinking models)",
        search="Let the model look things up with Google Search (some models)",
    )
    @app_commands.autocomplete(
        aspect_ratio=ratio_setting,
        size=size_setting,
        model=model_setting,
        language=language_setting,
        previews=previews_setting,
        search=search_setting,
    )
    async def settings(
        interaction: Interaction,
        aspect_ratio: str | None = None,
        size: str | None = None,
        model: str | None = None,
        language: str | None = None,
        previews: str | None = None,
        search: str | None = None,
    ) -> None:
        given = {
            "aspect_ratio": aspect_ratio,
            "image_size": size,
            "model": model,
            "language": language,
            "previews": previews,
            "search": search,
        }
        await chat.settings(interaction, {k: v for k, v in given.items() if v is not None})

    @tree.command(name="usage", description="How many images you made today")
    async def usage(interaction: Interaction) -> None:
        await chat.usage(interaction)

    @tree.command(name="info", description="How a result was made and what it cost")
    @app_commands.describe(message="A result's message link or id (default: the latest here)")
    async def info(interaction: Interaction, message: str | None = None) -> None:
        await chat.info(interaction, message)

    @tree.command(name="history", description="One picture of every step that led to a result")
    @app_commands.describe(message="A result's message link or id (default: the latest here)")
    async def history(interaction: Interaction, message: str | None = None) -> None:
        await chat.history(interaction, message)

    @tree.context_menu(name=HISTORY_MENU)
    async def history_menu(interaction: Interaction, message: discord.Message) -> None:
        await chat.history_menu(interaction, message)

    ref = app_commands.Group(
        name="ref", description="Named references: #name keeps a character or a look"
    )

    @ref.command(name="save", description="Save pictures and/or a style as #name")
    @app_commands.describe(
        name="1-32 letters, digits, _ or -",
        image="A picture of it",
        image2="Another picture",
        image3="Another picture",
        image4="Another picture",
        prompt="A style description to keep with it (or alone)",
    )
    async def ref_save(
        interaction: Interaction,
        name: str,
        image: discord.Attachment | None = None,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        prompt: str | None = None,
    ) -> None:
        images = [a for a in (image, image2, image3, image4) if a is not None]
        await refs.save(interaction, name, images, prompt)

    @ref.command(name="list", description="The references and styles you can use here")
    async def ref_list(interaction: Interaction) -> None:
        await refs.sheet(interaction)

    @ref.command(name="delete", description="Delete a reference")
    @app_commands.describe(name="The reference to delete")
    @app_commands.autocomplete(name=saved_reference)
    async def ref_delete(interaction: Interaction, name: str) -> None:
        await refs.delete(interaction, name)

    tree.add_command(ref)

    @tree.context_menu(name=SAVE_MENU)
    async def save_reference(interaction: Interaction, message: discord.Message) -> None:
        await refs.save_menu(interaction, message)

    @tree.command(name="forget", description="Delete everything you sent me")
    async def forget(interaction: Interaction) -> None:
        await chat.forget(interaction)

    @tree.command(name="help", description="How to edit images with this bot")
    async def help_command(interaction: Interaction) -> None:
        await chat.help(interaction)
