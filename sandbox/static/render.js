// The bot's HTML, rendered the way Telegram does: only the tags Telegram's HTML parse mode knows,
// rebuilt as fresh DOM nodes. Nothing the bot sends is ever assigned to innerHTML: the markup is
// parsed into an inert document (DOMParser: no scripts run, no images load), then walked, and
// each allowed element is created anew with only its allowed attribute; everything else
// becomes plain text.
(function (global) {
  "use strict";

  // Telegram's tags → the element shown. <span> is allowed only as class="tg-spoiler".
  const ALLOWED = {
    b: "b", strong: "b", i: "i", em: "i", u: "u", ins: "u", s: "s", strike: "s", del: "s",
    a: "a", code: "code", pre: "pre", blockquote: "blockquote", "tg-spoiler": "span", span: "span",
  };
  // Content that is never text a reader should see.
  const DROPPED = new Set(["script", "style", "template", "noscript", "iframe", "object", "embed",
    "svg", "math", "head", "title"]);
  const SCHEMES = new Set(["http:", "https:", "tg:"]);

  function safeHref(raw) {
    let url;
    try {
      url = new URL(String(raw).trim());
    } catch (_) {
      return null; // relative or malformed: Telegram would refuse it too
    }
    return SCHEMES.has(url.protocol) ? url.href : null;
  }

  function copyChildren(from, to, doc) {
    for (const node of Array.from(from.childNodes)) copyNode(node, to, doc);
  }

  function copyNode(node, to, doc) {
    if (node.nodeType === 3) { // text
      to.appendChild(doc.createTextNode(node.nodeValue));
      return;
    }
    if (node.nodeType !== 1) return; // comments, processing instructions
    const tag = node.localName;
    if (DROPPED.has(tag)) return;
    const shown = ALLOWED[tag];
    const spoilerSpan = tag === "span" && node.getAttribute("class") === "tg-spoiler";
    if (!shown || (tag === "span" && !spoilerSpan)) {
      copyChildren(node, to, doc); // unknown element: keep its text, drop the element
      return;
    }
    const el = doc.createElement(shown);
    if (shown === "span") el.className = "tg-spoiler";
    if (tag === "a") {
      const href = safeHref(node.getAttribute("href") || "");
      if (href) {
        el.setAttribute("href", href);
        el.setAttribute("target", "_blank");
        el.setAttribute("rel", "noopener noreferrer nofollow");
      }
    }
    if (tag === "code") {
      const language = /^language-[A-Za-z0-9_+-]{1,32}$/.exec(node.getAttribute("class") || "");
      if (language) el.className = language[0];
    }
    if (tag === "blockquote" && node.hasAttribute("expandable")) el.className = "expandable";
    copyChildren(node, el, doc);
    to.appendChild(el);
  }

  // A DocumentFragment showing the bot's HTML (parse_mode HTML) safely.
  function renderBotHtml(html, doc) {
    doc = doc || global.document;
    const inert = new DOMParser().parseFromString(
      "<!doctype html><html><body>" + String(html), "text/html");
    const fragment = doc.createDocumentFragment();
    copyChildren(inert.body, fragment, doc);
    return fragment;
  }

  global.NewsbotRender = { renderBotHtml: renderBotHtml, safeHref: safeHref };
})(window);
