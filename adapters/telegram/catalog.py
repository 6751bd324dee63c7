"""The Telegram section of the catalog: help, the settings menu, command descriptions.

It extends the core's section, so `text()` finds core messages too, with English fallback.
"""

from __future__ import annotations

from bot.messages import CORE, EN, ZH

_ENTRIES: dict[str, dict[str, str]] = {
    EN: {
        "help": (
            "I edit pictures with Google's Gemini image model.\n\n"
            "Private chat:\n"
            "• Send a photo with a caption saying what to change.\n"
            "• A photo without a caption waits for your next message.\n"
            "• Plain text continues from the latest result (or draws something new).\n"
            "• Reply to any earlier image to continue from exactly that one.\n"
            "• Send several photos as an album to combine them.\n"
            "• /new starts over.\n\n"
            "Groups:\n"
            "• /edit <instruction> as a photo caption, or as a reply to any photo.\n"
            "• /imagine <description> draws something new.\n"
            "• Reply to any of my pictures to keep refining it; replying to an older one "
            "branches from it.\n"
            "• @{username} <instruction> works wherever Telegram shows me the message.\n"
            "With privacy mode on (the default), I only see commands, mentions and replies to "
            "my messages in groups; that is all I need.\n\n"
            "Buttons: Retry makes another variant, Original sends the lossless file, "
            "Variations makes several at once, Zoom out widens the view, Reframe changes the "
            "shape, Upscale renders it larger, Info tells how it was made. With a thinking "
            "model you watch drafts appear, and Stop stops it.\n"
            "/settings (group admins): aspect ratio, size, model, previews, search, language. "
            "/usage: today's use. /info as a reply to a result: how it was made. /history as a "
            "reply to a result: one picture of every step that led to it.\n"
            "Change one spot only: draw a loop on a result in the photo editor and send it as a "
            "reply to that result, with what to do there.\n"
            "References: /ref save NAME as a photo caption (or a reply to one), then #NAME in "
            "any instruction keeps that character or look; /ref lists them, with styles like "
            "#figurine and #sticker.\n"
            "/forget deletes everything you sent me and every image made for you."
        ),
        "settings_title": "Settings for this chat:",
        "settings_admins_only": "Only chat admins can change the settings here.",
        "settings_saved": "Saved.",
        "back": "« Back",
        "cmd_start": "Start and how to use",
        "cmd_help": "How to use the bot",
        "cmd_edit": "Edit a photo: /edit <instruction>",
        "cmd_imagine": "Draw something new: /imagine <description>",
        "cmd_new": "Start over",
        "cmd_settings": "Aspect ratio, size, model, language",
        "cmd_usage": "Your usage today",
        "cmd_info": "How a result was made (reply to it)",
        "cmd_history": "Every step that led to a result (reply to it)",
        "cmd_ref": "Named references: list, save, delete",
        "ref_usage": "/ref lists the references you can use here.\n"
        "/ref save NAME as the caption of a photo or album, or as a reply to any picture, "
        "saves it as #NAME.\n/ref save NAME: a description saves a style.\n"
        "/ref delete NAME deletes one.\nPut #NAME in any instruction to use it. Saved in a "
        "private chat, a reference is yours in every chat; in a group, it is the group's.",
        "cmd_forget": "Delete everything you sent me",
        "gif_without_still": "I can only edit still pictures, and Telegram turned this GIF into "
        "an animation without a still frame I could use. Send a JPEG, PNG, WebP or HEIC picture.",
    },
    ZH: {
        "help": (
            "我用 Google Gemini 图像模型编辑图片。\n\n"
            "私聊：\n"
            "• 发送图片并在说明里写下要修改的内容。\n"
            "• 不带说明的图片会等待你的下一条消息。\n"
            "• 纯文字会接着最新的结果继续（或生成新图）。\n"
            "• 回复任意一张之前的图片，就从那张图继续。\n"
            "• 以相册形式发送多张图片可将它们合成。\n"
            "• /new 重新开始。\n\n"
            "群组：\n"
            "• 把 /edit <指令> 作为图片说明，或用它回复任意图片。\n"
            "• /imagine <描述> 生成新图。\n"
            "• 回复我发出的任意图片可继续修改；回复较早的图片会从那里分支。\n"
            "• 在 Telegram 允许我看到的地方使用 @{username} <指令>。\n"
            "隐私模式开启时（默认），我在群里只能看到命令、提及和对我消息的回复，这已足够。\n\n"
            "按钮：“重试”生成另一个版本，“原图”发送无损文件，“变体”一次生成多个，"
            "“缩小视野”扩展画面，“改变画幅”更换宽高比，“高清放大”以更大尺寸重绘，"
            "“信息”说明它是如何生成的。使用会思考的模型时可以看到草稿，按“停止”即可停止。\n"
            "/settings（群管理员）：宽高比、尺寸、模型、预览、搜索、语言。/usage：今日用量。"
            "回复结果发送 /info：查看生成信息。"
            "回复结果发送 /history：用一张图展示得到它的每一步。\n"
            "只改一处：在图片编辑器里把结果上要改的地方圈出来，"
            "作为对该结果的回复发送，并写上要做什么。\n"
            "参考：把 /ref save 名字 作为图片说明（或回复图片），之后在任何指令中写 #名字 "
            "即可保持该角色或风格；/ref 列出全部，另有 #figurine、#sticker 等内置风格。\n"
            "/forget 删除你发给我的所有内容以及为你生成的所有图片。"
        ),
        "settings_title": "本聊天的设置：",
        "settings_admins_only": "只有群管理员可以修改这里的设置。",
        "settings_saved": "已保存。",
        "back": "« 返回",
        "cmd_start": "开始与使用说明",
        "cmd_help": "使用说明",
        "cmd_edit": "编辑图片：/edit <指令>",
        "cmd_imagine": "生成新图：/imagine <描述>",
        "cmd_new": "重新开始",
        "cmd_settings": "宽高比、尺寸、模型、语言",
        "cmd_usage": "今日用量",
        "cmd_info": "结果的生成信息（回复该结果）",
        "cmd_history": "得到某个结果的每一步（回复该结果）",
        "cmd_ref": "命名参考：列出、保存、删除",
        "ref_usage": "/ref 列出这里可用的参考。\n"
        "把 /ref save 名字 作为图片或相册的说明，或用它回复任意图片，即可保存为 #名字。\n"
        "/ref save 名字: 描述 保存一种风格。\n/ref delete 名字 删除一个参考。\n"
        "在任何指令中写上 #名字 即可使用。在私聊中保存的参考在所有聊天中都属于你；"
        "在群组中保存的属于该群。",
        "cmd_forget": "删除你发给我的所有内容",
        "gif_without_still": "我只能编辑静态图片，而 Telegram 把这个 GIF 转成了动画，"
        "其中没有我能使用的静态画面。请发送 JPEG、PNG、WebP 或 HEIC 图片。",
    },
}


CATALOG = CORE.extend("telegram", _ENTRIES)
text = CATALOG.text
