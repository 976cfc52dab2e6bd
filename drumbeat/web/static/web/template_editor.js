// The template editor: placeholder picker (moved out of the page for the CSP). The SMS counts
// come with each preview (mailing/sms_text.py counts them on the server).
document.addEventListener("change", function (e) {
  var pick = e.target.closest("[data-insert-into]");
  if (!pick || !pick.value) return;
  var area = document.getElementById(pick.getAttribute("data-insert-into"));
  var start = area.selectionStart || 0, end = area.selectionEnd || 0;
  area.value = area.value.slice(0, start) + pick.value + area.value.slice(end);
  area.focus(); area.selectionStart = area.selectionEnd = start + pick.value.length;
  pick.value = "";
  area.dispatchEvent(new Event("input", { bubbles: true }));
});
document.addEventListener("submit", function (e) {
  var copy = e.target.querySelector("[data-copy-from]");
  if (copy) copy.value = document.getElementById(copy.getAttribute("data-copy-from")).value;
});
