/*
 * The help center without page reloads: "did this solve it?" answered in place (with a
 * comment box after "no"), and "ask in the chat" buttons that open the chat widget.
 * The pages work without it: the forms post and the server redirects back.
 */
(function () {
  'use strict';

  function show(section, name) {
    ['helpful', 'comment', 'thanks', 'failed'].forEach(function (part) {
      var el = section.querySelector('.' + part);
      if (el) el.hidden = part !== name;
    });
  }

  function post(form, body) {
    return fetch(form.action, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'same-origin'
    }).then(function (res) {
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return res.json();
    });
  }

  function wireFeedback(section) {
    var helpful = section.querySelector('form.helpful');
    var comment = section.querySelector('form.comment');
    if (!helpful || !comment) return;
    helpful.addEventListener('submit', function (event) {
      event.preventDefault();
      var said = event.submitter ? event.submitter.value === 'true' : true;
      post(helpful, { helpful: said }).then(function (answer) {
        if (said) { show(section, 'thanks'); return; }
        comment.elements.feedback_id.value = answer.feedback_id;
        show(section, 'comment');
        comment.elements.comment.focus();
      }).catch(function () { show(section, 'failed'); });
    });
    comment.addEventListener('submit', function (event) {
      event.preventDefault();
      var body = { helpful: false, comment: comment.elements.comment.value };
      if (comment.elements.feedback_id.value) body.feedback_id = comment.elements.feedback_id.value;
      post(comment, body).then(function () {
        show(section, 'thanks');
        section.querySelector('.thanks').focus();
      }).catch(function () { show(section, 'failed'); });
    });
    section.querySelector('.thanks').tabIndex = -1;
  }

  function wireAsk() {
    document.querySelectorAll('.ask').forEach(function (row) {
      row.hidden = false; // the chat needs script: the buttons appear only with it
      row.querySelectorAll('button[data-ask]').forEach(function (button) {
        button.addEventListener('click', function () {
          if (!window.Tsunagu) return;
          var text = button.getAttribute('data-ask');
          if (text) window.Tsunagu.send(text); else window.Tsunagu.open();
        });
      });
    });
  }

  function init() {
    var section = document.getElementById('feedback');
    if (section) wireFeedback(section);
    wireAsk();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
