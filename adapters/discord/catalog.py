"""The Discord section of the catalog: help, settings, permissions, dialogs.

It extends the core's section, so `text()` finds core messages too, with English fallback.
"""

from __future__ import annotations

from bot.messages import CORE, EN, ZH

_ENTRIES: dict[str, dict[str, str]] = {
    EN: {
        "help": "**bananabot** edits images with Google's Gemini image models.\n"
        "- `/edit image prompt`: edit an attached image (add more with image2 … image4).\n"
        "- `/imagine prompt`: make a new image from a description.\n"
        "- **Apps > Edit image** on any message with a picture (or on one of my results): "
        "type what to change.\n"
        "- Reply to one of my results to keep editing it; replying to an older result "
        "branches from it.\n"
        "- Mention me with a picture to start a new edit. In DMs send a picture with a "
        "caption; plain text continues the latest result.\n"
        "- **Retry** makes another variant; **Original** sends the lossless PNG; "
        "**Variations** makes several at once; **Zoom out**, **Reframe** and **Upscale** "
        "widen, reshape or enlarge it; **Info** tells how it was made. A thinking model shows "
        "its drafts as it works, with **Stop**.\n"
        "- `/settings` (Manage Server): aspect ratio, size, model, previews, search and "
        "language for this channel. `/usage`: what you used today. `/info`: how a result was "
        "made. `/history` (or **Apps > History** on a result): one picture of every step that "
        "led to it. `/forget`: delete everything you sent me.\n"
        "- **Change one spot only**: draw a loop on a result, then reply to that result with "
        "the marked picture and what to do there; nothing outside the loop moves.\n"
        "- **References**: `/ref save name image` (or **Apps > Save as reference**) keeps a "
        "character, product or look; put `#name` in any prompt (or pick it in `reference`) to "
        "use it. `/ref list` shows them and the built-in styles (`#figurine`, `#sticker` …); "
        "`/ref delete name`. Saved in a DM, a reference is yours everywhere.\n"
        "{intent}",
        "intent_on": "I can read messages in channels, so replies to my results work with "
        "or without a ping.",
        "intent_off": "I run without the Message Content intent: in channels I only see "
        "replies that ping me and messages that mention me. Slash commands, the Edit image "
        "menu and DMs always work.",
        "no_image_there": "That message has no image I can edit.",
        "ref_modal_title": "Save as reference",
        "ref_modal_name": "Name (use it as #name)",
        "ref_modal_prompt": "Style to keep with it (optional)",
        "modal_title": "Edit image",
        "modal_label": "What should change?",
        "modal_placeholder": "e.g. make the sky stormy",
        "settings_denied": "Only members with Manage Server (or the bot's admins) can change "
        "the settings.",
        "settings_now": "Settings for this channel:\n{lines}",
        "settings_saved": "Saved. Settings for this channel:\n{lines}",
        "preview_note": "JPEG preview: the lossless PNG ({size}) is over the upload "
        "limit here ({limit}).",
        "no_preview": "The result ({size}) is too large to show here.",
        "original_too_large": "The original PNG is {size}, more than the "
        "{limit} upload limit here, so it cannot be sent in this channel.",
        "missing_permissions": "I am missing permissions in this channel: {names}. Ask an "
        "admin to grant them.",
        "command_gone": "This command is no longer available.",
    },
    ZH: {
        "help": "**bananabot** 使用 Google 的 Gemini 图像模型编辑图片。\n"
        "- `/edit image prompt`：编辑附带的图片（可用 image2 … image4 添加更多）。\n"
        "- `/imagine prompt`：根据描述生成新图片。\n"
        "- 在任何带图片的消息（或我的结果）上选择 **应用 > Edit image**：输入要修改的内容。\n"
        "- 回复我的结果可继续编辑；回复较早的结果会从那里分支。\n"
        "- 提及我并附上图片即可开始新的编辑。在私信中发送带说明的图片；纯文本会继续最近的结果。\n"
        "- **重试** 生成另一个版本；**原图** 发送无损 PNG；**变体** 一次生成多个；"
        "**缩小视野**、**改变画幅** 和 **高清放大** 可扩展、改形或放大画面；"
        "**信息** 说明生成方式。"
        "会思考的模型在生成时显示草稿，并提供 **停止**。\n"
        "- `/settings`（需要管理服务器权限）：本频道的宽高比、尺寸、模型、预览、搜索和语言。"
        "`/usage`：你今天的用量。`/info`：结果的生成信息。"
        "`/history`（或在结果上选择 **应用 > History**）：用一张图展示得到它的每一步。"
        "`/forget`：删除你发给我的所有内容。\n"
        "- **只改一处**：在结果上把要改的地方圈出来，"
        "再带着这张标记过的图片回复该结果并写上要做什么；圈外的内容不会变。\n"
        "- **参考**：`/ref save name image`（或 **应用 > Save as reference**）"
        "保存角色、产品或风格；在任何提示中写 `#名字`（或在 `reference` 中选择）即可使用。"
        "`/ref list` 列出参考和内置风格（`#figurine`、`#sticker` …）；"
        "`/ref delete name` 删除。在私信中保存的参考在各处都属于你。\n"
        "{intent}",
        "intent_on": "我可以读取频道消息，所以回复我的结果时无论是否提及我都有效。",
        "intent_off": "我在没有 Message Content 权限的情况下运行：在频道中我只能看到提及我的"
        "回复和消息。斜杠命令、Edit image 菜单和私信始终可用。",
        "no_image_there": "那条消息里没有我能编辑的图片。",
        "ref_modal_title": "保存为参考",
        "ref_modal_name": "名字（用 #名字 调用）",
        "ref_modal_prompt": "一并保存的风格描述（可选）",
        "modal_title": "编辑图片",
        "modal_label": "要修改什么？",
        "modal_placeholder": "例如：把天空变成暴风雨",
        "settings_denied": "只有拥有“管理服务器”权限的成员（或机器人管理员）才能修改设置。",
        "settings_now": "本频道的设置：\n{lines}",
        "settings_saved": "已保存。本频道的设置：\n{lines}",
        "preview_note": "JPEG 预览：无损 PNG（{size}）超过了此处的上传上限（{limit}）。",
        "no_preview": "结果（{size}）太大，无法在此显示。",
        "original_too_large": "原图 PNG 为 {size}，超过了此处 {limit} "
        "的上传上限，无法在此频道发送。",
        "missing_permissions": "我在此频道缺少权限：{names}。请让管理员授予。",
        "command_gone": "此命令已不再可用。",
    },
}


CATALOG = CORE.extend("discord", _ENTRIES)
text = CATALOG.text
