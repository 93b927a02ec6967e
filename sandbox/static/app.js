// The sandbox chat page: simulated users chatting with the real bot through the local Bot API.
// Server state arrives as server-sent events; every bot text goes through NewsbotRender.
(function () {
  "use strict";

  const state = {
    users: [],
    chats: new Map(), // user id → Map(message id → message)
    current: null,
    unread: new Map(),
    clock: { offset_seconds: 0, next_due: null },
    commands: new Map(), // language → [{command, description}]
  };
  const $ = (id) => document.getElementById(id);
  let toastTimer = null;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  async function api(path, body) {
    const response = await fetch(path, {
      method: body === undefined ? "GET" : "POST",
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  }

  // -- state ------------------------------------------------------------------------------------
  function chatOf(userId) {
    const key = String(userId);
    if (!state.chats.has(key)) state.chats.set(key, new Map());
    return state.chats.get(key);
  }

  function currentUser() {
    return state.users.find((u) => u.id === state.current) || null;
  }

  async function loadState() {
    const data = await api("/api/state");
    state.users = data.users;
    for (const [userId, messages] of Object.entries(data.chats)) {
      const chat = chatOf(userId);
      for (const m of messages) {
        // An event may have brought a newer version while the snapshot was on its way.
        const known = chat.get(m.message_id);
        if (!known || m.edits >= known.edits || m.deleted) chat.set(m.message_id, m);
      }
    }
    setClock(data.clock);
    if (state.current === null && state.users.length) state.current = state.users[0].id;
    renderUsers();
    renderChat();
  }

  // -- users ------------------------------------------------------------------------------------
  function renderUsers() {
    const list = $("users");
    list.replaceChildren();
    for (const user of state.users) {
      const item = el("li");
      const button = el("button", "user" + (user.id === state.current ? " selected" : ""));
      button.type = "button";
      button.dataset.user = String(user.id);
      button.append(el("span", "user-name", user.name));
      button.append(el("span", "user-meta", user.language + (user.admin ? " · admin" : "")));
      const unread = state.unread.get(user.id) || 0;
      if (unread) button.append(el("span", "badge", unread));
      button.addEventListener("click", () => selectUser(user.id));
      item.append(button);
      list.append(item);
    }
  }

  function selectUser(userId) {
    state.current = userId;
    state.unread.delete(userId);
    $("command-menu").hidden = true;
    $("toast").hidden = true; // a toast belongs to the chat it was shown in
    renderUsers();
    renderChat();
    $("text").focus();
  }

  // -- messages ---------------------------------------------------------------------------------
  function renderChat() {
    const box = $("messages");
    box.replaceChildren();
    const user = currentUser();
    $("chat-with").textContent = user ? "you are " + user.name + " (" + user.id + ")" : "";
    if (!user) return;
    const messages = Array.from(chatOf(user.id).values()).sort((a, b) => a.message_id - b.message_id);
    if (!messages.length) {
      box.append(el("div", "empty", "Send /start to begin, or pick a command with the / button."));
    }
    for (const m of messages) box.append(messageElement(m));
    renderReplyKeyboard();
    box.scrollTop = box.scrollHeight;
  }

  function upsertMessage(m) {
    const chat = chatOf(m.chat_id);
    chat.set(m.message_id, m);
    if (m.chat_id !== state.current) {
      if (m.from_bot && !m.edits && !m.deleted) {
        state.unread.set(m.chat_id, (state.unread.get(m.chat_id) || 0) + 1);
        renderUsers();
      }
      return;
    }
    const box = $("messages");
    const stuck = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    const fresh = messageElement(m);
    const old = box.querySelector('.msg[data-id="' + m.message_id + '"]');
    const empty = box.querySelector(".empty");
    if (empty) empty.remove();
    if (old) old.replaceWith(fresh);
    else box.append(fresh);
    renderReplyKeyboard();
    if (stuck || !old) box.scrollTop = box.scrollHeight;
  }

  function messageElement(m) {
    const row = el("div", "msg " + (m.from_bot ? "in" : "out"));
    row.dataset.id = String(m.message_id);
    if (m.deleted) {
      row.classList.add("deleted");
      row.append(el("div", "bubble", "message deleted"));
      return row;
    }
    const bubble = el("div", "bubble");
    if (m.photo) {
      const img = el("img", "photo");
      img.src = m.photo;
      img.alt = "photo";
      img.addEventListener("load", () => {
        const box = $("messages");
        box.scrollTop = box.scrollHeight;
      });
      bubble.append(img);
    }
    const body = el("div", "text");
    if (m.html !== null && m.html !== undefined) body.append(NewsbotRender.renderBotHtml(m.html));
    else body.textContent = m.text || "";
    if (body.textContent.length) bubble.append(body);
    const preview = previewFor(m, body);
    if (preview) {
      if (m.preview && m.preview.above) bubble.prepend(preview);
      else bubble.append(preview);
    }
    const meta = el("div", "meta", timeOf(m.date) + (m.edits ? " · edited" : ""));
    bubble.append(meta);
    row.append(bubble);
    if (m.inline_keyboard && m.inline_keyboard.length) row.append(inlineKeyboard(m));
    return row;
  }

  // Telegram shows a preview of the first link unless the bot turned previews off.
  function previewFor(m, body) {
    if (!m.from_bot || m.photo || !m.preview || m.preview.disabled) return null;
    const link = m.preview.url || (body.querySelector("a[href]") || {}).href;
    if (!link) return null;
    let url;
    try { url = new URL(link); } catch (_) { return null; }
    const card = el("a", "preview");
    card.href = url.href;
    card.target = "_blank";
    card.rel = "noopener noreferrer nofollow";
    card.append(el("span", "preview-site", url.hostname));
    card.append(el("span", "preview-path", decodeURI(url.pathname).slice(0, 80)));
    return card;
  }

  function timeOf(seconds) {
    if (!seconds) return "";
    const shown = new Date(seconds * 1000); // the sandbox's time when it was sent
    return shown.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function inlineKeyboard(m) {
    const keyboard = el("div", "keyboard");
    for (const row of m.inline_keyboard) {
      const line = el("div", "keyboard-row");
      for (const b of row) {
        if (b.url) {
          const href = NewsbotRender.safeHref(b.url);
          const link = el("a", "kb-button url", b.text);
          if (href) {
            link.href = href;
            link.target = "_blank";
            link.rel = "noopener noreferrer nofollow";
          }
          line.append(link);
          continue;
        }
        const button = el("button", "kb-button", b.text);
        button.type = "button";
        if (b.callback_data === undefined) button.disabled = true;
        button.addEventListener("click", () => press(m, b, button));
        line.append(button);
      }
      keyboard.append(line);
    }
    return keyboard;
  }

  async function press(m, b, button) {
    button.classList.add("pending");
    try {
      await api("/api/press", { user: m.chat_id, message_id: m.message_id, data: b.callback_data });
    } catch (error) {
      button.classList.remove("pending");
      showToast("Could not press: " + error.message, true);
    }
  }

  // The reply keyboard of the bot's latest message that set or removed one.
  function renderReplyKeyboard() {
    const box = $("reply-keyboard");
    box.replaceChildren();
    const user = currentUser();
    let rows = null;
    if (user) {
      const messages = Array.from(chatOf(user.id).values()).sort((a, b) => a.message_id - b.message_id);
      for (const m of messages) {
        if (!m.from_bot) continue;
        if (m.reply_keyboard) rows = m.reply_keyboard;
        else if (m.remove_keyboard) rows = null;
      }
    }
    box.hidden = !rows;
    for (const row of rows || []) {
      const line = el("div", "keyboard-row");
      for (const b of row) {
        const label = typeof b === "string" ? b : b.text;
        const button = el("button", "kb-button", label);
        button.type = "button";
        button.addEventListener("click", () => sendText(label));
        line.append(button);
      }
      box.append(line);
    }
  }

  // -- composing --------------------------------------------------------------------------------
  async function sendText(text) {
    const user = currentUser();
    if (!user || !text.trim()) return;
    try {
      await api("/api/send", { user: user.id, text: text });
    } catch (error) {
      showToast("Not sent: " + error.message, true);
    }
  }

  async function toggleCommands() {
    const menu = $("command-menu");
    if (!menu.hidden) {
      menu.hidden = true;
      return;
    }
    const user = currentUser();
    if (!user) return;
    if (!state.commands.has(user.language)) {
      const data = await api("/api/commands?language=" + encodeURIComponent(user.language));
      state.commands.set(user.language, data.commands);
    }
    menu.replaceChildren();
    const commands = state.commands.get(user.language);
    if (!commands.length) menu.append(el("div", "empty", "The bot has not set any commands."));
    for (const c of commands) {
      const item = el("button", "command");
      item.type = "button";
      item.append(el("span", "command-name", "/" + c.command));
      item.append(el("span", "command-description", c.description));
      item.addEventListener("click", () => {
        menu.hidden = true;
        sendText("/" + c.command);
      });
      menu.append(item);
    }
    menu.hidden = false;
  }

  // -- clock and toasts -------------------------------------------------------------------------
  function setClock(clock) {
    state.clock = clock;
    tickClock();
  }

  function tickClock() {
    const now = new Date(Date.now() + state.clock.offset_seconds * 1000);
    const hours = state.clock.offset_seconds / 3600;
    const ahead = hours >= 0.01 ? " (+" + (Math.round(hours * 10) / 10) + " h)" : "";
    $("clock-now").textContent = now.toLocaleString([], {
      weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
    }) + ahead;
    const due = state.clock.next_due ? new Date(state.clock.next_due) : null;
    $("clock-due").textContent = due ? "next digest: " + due.toLocaleString([], {
      weekday: "short", hour: "2-digit", minute: "2-digit",
    }) : "no digest scheduled yet";
  }

  async function advance(body) {
    try {
      const result = await api("/api/clock", body);
      setClock(result);
      if (result.note) showToast(result.note, false);
    } catch (error) {
      showToast("Clock: " + error.message, true);
    }
  }

  function showToast(text, alert) {
    const toast = $("toast");
    toast.textContent = text;
    toast.className = "toast" + (alert ? " alert" : "");
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toast.hidden = true; }, alert ? 6000 : 2500);
  }

  // -- live updates -----------------------------------------------------------------------------
  function connect() {
    const events = new EventSource("/api/events");
    let opened = false;
    events.addEventListener("open", () => {
      $("status").textContent = "bot · sandbox";
      if (opened) loadState(); // catch up on what happened while disconnected
      opened = true;
    });
    events.addEventListener("error", () => { $("status").textContent = "reconnecting…"; });
    events.addEventListener("message", (e) => upsertMessage(JSON.parse(e.data)));
    events.addEventListener("toast", (e) => {
      const toast = JSON.parse(e.data);
      if (toast.chat_id !== state.current) return;
      document.querySelectorAll(".kb-button.pending").forEach((b) => b.classList.remove("pending"));
      if (toast.text) showToast(toast.text, toast.show_alert);
    });
    events.addEventListener("refused", (e) => {
      const refusal = JSON.parse(e.data);
      if (refusal.chat_id !== null && refusal.chat_id !== undefined && refusal.chat_id !== state.current) return;
      const line = el("div", "refused",
        "The Bot API refused " + refusal.method + ": " + refusal.status + " " + refusal.description);
      $("messages").append(line);
    });
    events.addEventListener("commands", () => state.commands.clear());
    events.addEventListener("users", (e) => {
      state.users = JSON.parse(e.data).users;
      renderUsers();
    });
    events.addEventListener("clock", (e) => setClock(JSON.parse(e.data)));
  }

  // -- wiring -----------------------------------------------------------------------------------
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $("text");
    const text = input.value;
    input.value = "";
    sendText(text);
  });
  $("menu-button").addEventListener("click", toggleCommands);
  $("clock-next").addEventListener("click", () => advance({ next_slot: true }));
  $("clock-hours").addEventListener("submit", (e) => {
    e.preventDefault();
    advance({ hours: Number(e.target.elements.hours.value) });
  });
  $("new-user").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target.elements;
    try {
      const user = await api("/api/users", {
        name: form.name.value, language: form.language.value, admin: form.admin.checked,
      });
      if (!state.users.some((u) => u.id === user.id)) state.users.push(user);
      selectUser(user.id);
    } catch (error) {
      showToast(error.message, true);
    }
  });
  setInterval(tickClock, 1000);
  connect();
  loadState().then(() => { document.body.dataset.ready = "true"; });
})();
