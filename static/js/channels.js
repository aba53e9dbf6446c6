// Channels: a mention suggestion (a button under the composer, fetched by htmx) puts
// "@Name " in place of what was typed after the last "@", and gives the focus back to the
// text. A same-origin file: the CSP allows script-src 'self' and no inline handlers.
// Without JavaScript no suggestions are fetched; mentions are typed in full.
document.addEventListener("click", function (event) {
  var button = event.target.closest ? event.target.closest("button[data-mention]") : null;
  if (!button) {
    return;
  }
  var field = document.getElementById(button.getAttribute("data-mention-target"));
  if (!field) {
    return;
  }
  var text = field.value;
  var at = text.lastIndexOf("@");
  var head = at >= 0 ? text.slice(0, at) : text + (text && !/\s$/.test(text) ? " " : "");
  field.value = head + "@" + button.getAttribute("data-mention") + " ";
  var list = button.closest(".mention-suggestions");
  if (list) {
    list.textContent = "";
  }
  field.focus();
  field.setSelectionRange(field.value.length, field.value.length);
});
