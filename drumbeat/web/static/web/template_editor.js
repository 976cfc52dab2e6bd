// The template editor: placeholder picker, SMS counter (moved out of the page for the CSP).
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
(function () {
  function count(area, box) {
    var text = area.value, gsm = /^[A-Za-z0-9 @£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!"#¤%&'()*+,\-.\/:;<=>?¡ÄÖÑÜ§¿äöñüà^{}\\\[~\]|€]*$/.test(text);
    var per = gsm ? (text.length <= 160 ? 160 : 153) : (text.length <= 70 ? 70 : 67);
    var segments = Math.max(1, Math.ceil(text.length / per));
    box.textContent = text.length + " characters · " + segments + " segment" + (segments > 1 ? "s" : "") + (gsm ? " (GSM-7)" : " (Unicode)") + " before placeholders are filled";
  }
  document.querySelectorAll("[data-sms-counter-for]").forEach(function (box) {
    var area = document.getElementById(box.getAttribute("data-sms-counter-for"));
    area.addEventListener("input", function () { count(area, box); });
    count(area, box);
  });
})();
