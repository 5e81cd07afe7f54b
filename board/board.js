// SLA wallboard (issue 16). Plain browser JavaScript, no build step, served by the api role.
//
// Data: GET /v1/board (one snapshot: at risk, breached now, today, this month) on load, after
// every change the live stream announces, and after a reconnect (catch-up). Live: GET /v1/stream
// read with fetch() as a stream, so the read key goes in the Authorization header (EventSource
// cannot send headers, and a key in the URL would end up in logs); the parser below follows the
// SSE format (https://html.spec.whatwg.org/multipage/server-sent-events.html), and a reconnect
// sends Last-Event-ID. Countdowns tick every second on the server's clock: the browser's clock
// is corrected by the offset measured against `asOf` of each snapshot (half the round trip).
// Key: kept in sessionStorage; `#key=…` in the address is taken once and removed.
'use strict';

(() => {
  const KEY_STORE = 'sla-board-key';
  /** Without any bytes for this long the stream is presumed dead (3 default heartbeats). */
  const SILENCE_MS = 45_000;
  /** Reconnecting for longer than this: the board says how old its data is. */
  const STALE_AFTER_MS = 15_000;
  /** Refresh the snapshot at least this often ("today" counts, safety net). */
  const REFRESH_EVERY_MS = 60_000;
  /** Snapshot loads start at least this far apart. */
  const MIN_REFRESH_GAP_MS = 500;

  const I18N = {
    en: {
      title: 'SLA wallboard',
      filters: 'Filters',
      severity: 'Severity',
      tier: 'Tier',
      site: 'Site',
      language: 'Language',
      forget: 'Forget key',
      key_heading: 'Read-only key needed',
      key_help:
        'This board needs an API key with the scope incidents:read only. An admin makes one with ' +
        '“npm run api-key -- --scopes incidents:read”. Enter it once: it is kept in this browser ' +
        'tab only (sessionStorage), never in the address. A wall screen can also open ' +
        '/board#key=<key> once: the key is taken and removed from the address.',
      key_label: 'API key (incidents:read)',
      key_submit: 'Show the board',
      key_refused:
        'The key was refused ({status}). Check it, or ask for a key with incidents:read.',
      at_risk: 'At risk',
      breached_now: 'Breached now',
      today: 'Today',
      th_state: 'State',
      th_left: 'Time left',
      th_severity: 'Sev.',
      th_site: 'Site',
      th_incident: 'Incident',
      th_milestone: 'Milestone',
      th_assignee: 'Assignee',
      th_tier: 'Tier',
      th_next_warning: 'Next warning',
      th_overdue: 'Overdue',
      th_milestones: 'Milestones',
      th_escalated: 'Escalated',
      state_ok: 'on track',
      state_warned: 'warned',
      state_breached: 'breached',
      none_at_risk: 'No running SLA clock.',
      none_breached: 'No breach.',
      reported: 'Reported',
      met: 'Met on time',
      breached_count: 'Breached',
      esc_tier2: 'Escalated to tier 2',
      esc_tier3: 'Escalated to tier 3',
      compliance: 'Compliance',
      compliance_caption: 'Compliance this month ({month})',
      status_connecting: 'connecting…',
      status_live: 'live',
      status_reconnecting: 'reconnecting…',
      status_stale: 'stale since {time}',
      passed: 'passed',
      never: 'not escalated',
      frozen: 'clock stopped',
      response: 'Response',
      dispatch: 'Dispatch',
      arrival: 'On site',
      diagnosis: 'Diagnosis',
      solution: 'Solution',
      spare_parts: 'Spare parts',
      follow_up: 'Follow-up',
    },
    zh: {
      title: 'SLA 监控大屏',
      filters: '筛选',
      severity: '严重级别',
      tier: '支持层级',
      site: '地点',
      language: '语言',
      forget: '清除密钥',
      key_heading: '需要只读密钥',
      key_help:
        '本大屏需要仅具有 incidents:read 权限的 API 密钥。管理员可用 ' +
        '“npm run api-key -- --scopes incidents:read” 生成。只需输入一次：密钥只保存在本浏览器标签页' +
        '（sessionStorage），不会出现在地址栏。大屏也可打开一次 /board#key=<密钥>：密钥被读取后即从地址中移除。',
      key_label: 'API 密钥（incidents:read）',
      key_submit: '显示大屏',
      key_refused: '密钥被拒绝（{status}）。请检查，或申请具有 incidents:read 权限的密钥。',
      at_risk: '即将超时',
      breached_now: '已超时',
      today: '今日',
      th_state: '状态',
      th_left: '剩余时间',
      th_severity: '级别',
      th_site: '地点',
      th_incident: '事件',
      th_milestone: '节点',
      th_assignee: '处理人',
      th_tier: '层级',
      th_next_warning: '下次预警',
      th_overdue: '超时时长',
      th_milestones: '超时节点',
      th_escalated: '升级时间',
      state_ok: '正常',
      state_warned: '预警',
      state_breached: '超时',
      none_at_risk: '没有进行中的 SLA 计时。',
      none_breached: '没有超时。',
      reported: '新报告',
      met: '按时达成',
      breached_count: '超时',
      esc_tier2: '升级到二线',
      esc_tier3: '升级到三线',
      compliance: '达标率',
      compliance_caption: '本月达标率（{month}）',
      status_connecting: '连接中…',
      status_live: '实时',
      status_reconnecting: '重新连接中…',
      status_stale: '数据停止更新于 {time}',
      passed: '已过',
      never: '未升级',
      frozen: '计时已停',
      response: '响应',
      dispatch: '派人',
      arrival: '到场',
      diagnosis: '诊断',
      solution: '解决',
      spare_parts: '备件',
      follow_up: '回访',
    },
  };
  const ICON = { ok: '●', warned: '▲', breached: '✖' };

  const $ = (sel) => document.querySelector(sel);
  const params = new URLSearchParams(location.search);
  const browserLang = (navigator.languages?.[0] ?? navigator.language ?? 'en').toLowerCase();
  const lang = ['zh', 'en'].includes(params.get('lang'))
    ? params.get('lang')
    : browserLang.startsWith('zh')
      ? 'zh'
      : 'en';
  const t = (k, vars = {}) =>
    (I18N[lang][k] ?? I18N.en[k] ?? k).replace(/\{(\w+)\}/g, (_, v) => String(vars[v] ?? ''));
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const timeFmt = new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : 'en-GB', {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  });
  const dateTimeFmt = new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : 'en-GB', {
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });

  // ------------------------------------------------------------------ key

  function takeKeyFromAddress() {
    const hash = new URLSearchParams(location.hash.slice(1));
    const key = hash.get('key');
    if (!key) return;
    sessionStorage.setItem(KEY_STORE, key);
    hash.delete('key');
    const rest = hash.toString();
    history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  }
  const key = () => sessionStorage.getItem(KEY_STORE);
  const auth = () => ({ authorization: `Bearer ${key()}` });

  function askForKey(status) {
    stopAll();
    $('#board').hidden = true;
    $('#key-section').hidden = false;
    $('#key-error').textContent = status ? t('key_refused', { status }) : '';
    setStatus('connecting');
    $('#key-input').focus();
  }

  // ------------------------------------------------------------------ server clock

  /** Recent [round trip, offset] samples; the offset of the quickest round trip is used. */
  const samples = [];
  let offsetMs = 0;
  function measure(sentAt, receivedAt, serverIso) {
    const server = Date.parse(serverIso);
    if (Number.isNaN(server)) return;
    samples.push([receivedAt - sentAt, server - (sentAt + receivedAt) / 2]);
    if (samples.length > 8) samples.shift();
    offsetMs = samples.reduce((best, s) => (s[0] < best[0] ? s : best))[1];
  }
  const serverNow = () => Date.now() + offsetMs;

  // ------------------------------------------------------------------ filters (kept in the URL)

  const filters = {
    severity: (params.get('severity') ?? '').split(',').filter(Boolean),
    tier: (params.get('tier') ?? '').split(',').filter(Boolean),
    site: params.get('site') ?? '',
  };

  function filterQuery() {
    const q = new URLSearchParams();
    if (filters.severity.length) q.set('severity', filters.severity.join(','));
    if (filters.tier.length) q.set('tier', filters.tier.join(','));
    if (filters.site) q.set('site', filters.site);
    return q;
  }

  function writeUrl() {
    const q = filterQuery();
    if (params.has('lang')) q.set('lang', lang);
    const search = q.toString();
    history.replaceState(null, '', location.pathname + (search ? `?${search}` : ''));
  }

  function bindFilters() {
    const form = $('#filter-form');
    for (const box of form.querySelectorAll('input[type=checkbox]')) {
      box.checked = filters[box.name].includes(box.value);
      box.addEventListener('change', () => {
        filters[box.name] = [...form.querySelectorAll(`input[name=${box.name}]:checked`)].map(
          (b) => b.value,
        );
        filtersChanged();
      });
    }
    const site = $('#site-input');
    site.value = filters.site;
    let typing;
    site.addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(() => {
        filters.site = site.value.trim();
        filtersChanged();
      }, 400);
    });
    const langSelect = $('#lang-select');
    langSelect.value = lang;
    langSelect.addEventListener('change', () => {
      const q = filterQuery();
      q.set('lang', langSelect.value);
      location.search = q.toString();
    });
    $('#forget-key').addEventListener('click', () => {
      sessionStorage.removeItem(KEY_STORE);
      askForKey(null);
    });
    form.addEventListener('submit', (e) => e.preventDefault());
  }

  function filtersChanged() {
    writeUrl();
    render(null);
    void refresh();
    restartStream();
  }

  // ------------------------------------------------------------------ snapshot

  let snapshot = null;
  let refreshing = false;
  let refreshAgain = false;

  /**
   * Loads GET /v1/board; calls that arrive meanwhile coalesce into one more load, started at
   * least MIN_REFRESH_GAP_MS after the previous one (a busy stream costs a few loads a second).
   */
  async function refresh() {
    if (!key()) return;
    if (refreshing) {
      refreshAgain = true;
      return;
    }
    refreshing = true;
    try {
      let started = 0;
      do {
        const wait = started + MIN_REFRESH_GAP_MS - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        started = Date.now();
        refreshAgain = false;
        const q = filterQuery();
        q.set('tz', zone);
        const sentAt = Date.now();
        const res = await fetch(`/v1/board?${q}`, { headers: auth(), cache: 'no-store' });
        const receivedAt = Date.now();
        if (res.status === 401 || res.status === 403) return askForKey(res.status);
        if (!res.ok) throw new Error(`GET /v1/board: ${res.status}`);
        const body = await res.json();
        measure(sentAt, receivedAt, body.asOf);
        snapshot = body;
        render(snapshot);
      } while (refreshAgain);
    } catch {
      // The network is down: the stream's status says so; the next reconnect loads again.
    } finally {
      refreshing = false;
    }
  }

  // ------------------------------------------------------------------ rendering

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined) continue;
      if (k === 'class') node.className = v;
      else if (k.startsWith('data-') || k.startsWith('aria-')) node.setAttribute(k, v);
      else node[k] = v;
    }
    for (const c of children) node.append(c ?? '');
    return node;
  }

  const badge = (state) =>
    el(
      'span',
      { class: 'badge', 'data-state': state },
      el('span', { 'aria-hidden': 'true' }, `${ICON[state]} `),
      t(`state_${state}`),
    );
  const milestoneName = (m) => t(m);
  const incidentCell = (item) =>
    el(
      'td',
      {},
      item.title ?? item.incidentId,
      el('br'),
      el('span', { class: 'id' }, item.incidentId),
    );
  const dash = (v) => (v === null || v === undefined || v === '' ? '—' : String(v));

  /** Seconds as [-]H:MM:SS or M:SS. */
  function duration(totalSeconds) {
    const sign = totalSeconds < 0 ? '-' : '';
    const s = Math.abs(totalSeconds);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, '0');
    return h > 0 ? `${sign}${h}:${String(m).padStart(2, '0')}:${ss}` : `${sign}${m}:${ss}`;
  }

  /** The state of an at-risk row at `now` (the server's rule: breached once due_at <= now). */
  function stateAt(item, now) {
    if (Date.parse(item.dueAt) <= now) return 'breached';
    if (item.warnAt.some((w) => Date.parse(w) <= now)) return 'warned';
    return 'ok';
  }

  function render(data) {
    const atRisk = $('#at-risk tbody');
    const breached = $('#breached tbody');
    const compliance = $('#compliance tbody');
    if (!data) {
      for (const body of [atRisk, breached, compliance]) body.replaceChildren();
      return;
    }
    atRisk.replaceChildren(
      ...(data.atRisk.length
        ? data.atRisk.map((item) => {
            const row = el(
              'tr',
              { 'data-incident': item.incidentId, 'data-milestone': item.milestone },
              el('td', { class: 'state' }),
              el('td', { class: 'time' }),
              el('td', {}, dash(item.severity)),
              el('td', {}, dash(item.site)),
              incidentCell(item),
              el('td', {}, milestoneName(item.milestone)),
              el('td', {}, dash(item.assignee)),
              el('td', {}, String(item.tier)),
              el('td', { class: 'next-warning' }),
            );
            row.item = item;
            return row;
          })
        : [el('tr', {}, el('td', { class: 'empty', colSpan: 9 }, t('none_at_risk')))]),
    );
    breached.replaceChildren(
      ...(data.breached.length
        ? data.breached.map((item) => {
            const row = el(
              'tr',
              { 'data-incident': item.incidentId, 'data-state': 'breached' },
              el(
                'td',
                { class: 'time' },
                badge('breached'),
                el('br'),
                el('span', { class: 'overdue' }),
              ),
              el('td', {}, dash(item.severity)),
              el('td', {}, dash(item.site)),
              incidentCell(item),
              el('td', {}, item.milestones.map((m) => milestoneName(m.milestone)).join(', ')),
              el('td', {}, dash(item.assignee)),
              el('td', {}, String(item.tier)),
              el(
                'td',
                {},
                item.escalatedAt ? dateTimeFmt.format(new Date(item.escalatedAt)) : t('never'),
              ),
            );
            row.item = item;
            row.asOf = Date.parse(data.asOf);
            return row;
          })
        : [el('tr', {}, el('td', { class: 'empty', colSpan: 8 }, t('none_breached')))]),
    );
    $('#count-reported').textContent = String(data.today.reported);
    $('#count-met').textContent = String(data.today.met);
    $('#count-breached').textContent = String(data.today.breached);
    const esc = (tier) => data.today.escalations.find((e) => e.tier === tier)?.count ?? 0;
    $('#count-esc-2').textContent = String(esc(2));
    $('#count-esc-3').textContent = String(esc(3));
    $('#compliance-caption').textContent = t('compliance_caption', { month: data.month.month });
    compliance.replaceChildren(
      ...data.month.compliance.map((c) =>
        el(
          'tr',
          {},
          el('th', { scope: 'row' }, c.severity),
          el('td', {}, String(c.metOnTime)),
          el('td', {}, String(c.breached)),
          el('td', {}, c.compliancePct === null ? '—' : `${c.compliancePct.toFixed(1)} %`),
        ),
      ),
    );
    const sites = new Set([...data.atRisk, ...data.breached].map((i) => i.site).filter(Boolean));
    $('#sites').replaceChildren(...[...sites].sort().map((s) => el('option', { value: s })));
    tick();
  }

  /** Updates countdowns and states; runs on every second of the server's clock. */
  let dueRefresh = false;
  function tick() {
    const now = serverNow();
    $('#clock').textContent = timeFmt.format(new Date(now));
    for (const row of document.querySelectorAll('#at-risk tbody tr')) {
      const item = row.item;
      if (!item) continue;
      const state = stateAt(item, now);
      if (row.dataset.state !== state) {
        row.dataset.state = state;
        row.cells[0].replaceChildren(badge(state));
      }
      const left = Date.parse(item.dueAt) - now;
      // Counts down to 0:00 at the deadline, then shows how far past it is.
      row.cells[1].textContent = duration(
        left > 0 ? Math.ceil(left / 1000) : -Math.floor(-left / 1000),
      );
      const next = item.warnAt.map(Date.parse).find((w) => w > now);
      row.cells[8].textContent = next ? timeFmt.format(new Date(next)) : t('passed');
      // Past its deadline, the milestone belongs to "Breached now": reload once the server agrees.
      if (state === 'breached') dueRefresh = true;
    }
    for (const row of document.querySelectorAll('#breached tbody tr')) {
      const item = row.item;
      if (!item) continue;
      const first = item.milestones[0];
      const cell = row.querySelector('.overdue');
      if (!first || first.overdueSeconds === null) cell.textContent = t('frozen');
      else if (!first.ticking) cell.textContent = duration(first.overdueSeconds);
      else cell.textContent = duration(first.overdueSeconds + Math.floor((now - row.asOf) / 1000));
    }
    if (dueRefresh) {
      dueRefresh = false;
      void refresh();
    }
    // A warning or a deadline before the next whole second: change the state at that instant.
    const edges = [...document.querySelectorAll('#at-risk tbody tr')]
      .flatMap((row) => (row.item ? [row.item.dueAt, ...row.item.warnAt] : []))
      .map(Date.parse)
      .filter((at) => at > now && at < now + 1000);
    clearTimeout(edgeTimer);
    if (edges.length) edgeTimer = setTimeout(tick, Math.min(...edges) - now + 1);
  }
  let edgeTimer = null;

  function scheduleTick() {
    // On the next full second of the server's clock, so every countdown changes together.
    setTimeout(
      () => {
        tick();
        scheduleTick();
      },
      1000 - (serverNow() % 1000) + 5,
    );
  }

  // ------------------------------------------------------------------ live stream

  let status = 'connecting';
  let downSince = null;
  function setStatus(next) {
    status = next;
    const box = $('#status');
    box.dataset.status = next;
    $('#status-text').textContent =
      next === 'stale'
        ? t('status_stale', { time: timeFmt.format(new Date(downSince ?? Date.now())) })
        : t(`status_${next}`);
  }

  let lastEventId = null;
  let controller = null;
  let streamGeneration = 0;
  let staleTimer = null;

  function restartStream() {
    controller?.abort();
    void follow();
  }

  function stopAll() {
    streamGeneration += 1;
    controller?.abort();
    clearTimeout(staleTimer);
  }

  function wentDown() {
    if (downSince === null) downSince = Date.now();
    setStatus('reconnecting');
    clearTimeout(staleTimer);
    staleTimer = setTimeout(
      () => status === 'reconnecting' && setStatus('stale'),
      Math.max(0, STALE_AFTER_MS - (Date.now() - downSince)),
    );
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /** Follows GET /v1/stream until the filters change or the key is refused; reconnects with backoff. */
  async function follow() {
    const generation = ++streamGeneration;
    let attempt = 0;
    while (generation === streamGeneration && key()) {
      controller = new AbortController();
      const ctrl = controller;
      let silence = null;
      const alive = () => {
        clearTimeout(silence);
        silence = setTimeout(() => ctrl.abort(), SILENCE_MS);
      };
      try {
        const headers = { ...auth(), accept: 'text/event-stream' };
        if (lastEventId) headers['last-event-id'] = lastEventId;
        const q = filterQuery();
        q.delete('tier'); // the stream filters by severity and site; tier is the snapshot's
        const res = await fetch(`/v1/stream?${q}`, {
          headers,
          cache: 'no-store',
          signal: ctrl.signal,
        });
        if (res.status === 401 || res.status === 403) return askForKey(res.status);
        if (!res.ok || !res.body) throw new Error(`GET /v1/stream: ${res.status}`);
        alive();
        attempt = 0;
        downSince = null;
        clearTimeout(staleTimer);
        setStatus('live');
        void refresh(); // catch up on whatever happened while we were away
        await readEvents(res.body, alive);
      } catch {
        // dropped, aborted or refused: fall through to the retry below
      } finally {
        clearTimeout(silence);
      }
      if (generation !== streamGeneration) return;
      wentDown();
      attempt += 1;
      await sleep(Math.min(10_000, 500 * 2 ** Math.min(attempt - 1, 5)));
    }
  }

  /** Reads SSE blocks until the stream ends; every byte counts as a sign of life. */
  async function readEvents(body, alive) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let event = { id: null, type: 'message', data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      alive();
      buffer += value;
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        if (line === '') {
          if (event.id !== null) {
            lastEventId = event.id;
            // Where a reconnect resumes (shown for diagnostics; the browser test reads it).
            $('#status').dataset.lastEventId = event.id;
          }
          if (event.data.length) onEvent(event.type);
          event = { id: null, type: 'message', data: [] };
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') event.id = value;
        else if (field === 'event') event.type = value;
        else if (field === 'data') event.data.push(value);
      }
    }
  }

  /** Any incident, milestone or SLA event, or a reset: the snapshot is loaded again. */
  function onEvent() {
    void refresh();
  }

  // ------------------------------------------------------------------ start

  function translate() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    document.title = t('title');
    for (const node of document.querySelectorAll('[data-i18n]')) {
      node.textContent = t(node.dataset.i18n);
    }
  }

  function start() {
    $('#key-section').hidden = true;
    $('#board').hidden = false;
    setStatus('connecting');
    void refresh();
    restartStream();
  }

  translate();
  takeKeyFromAddress();
  bindFilters();
  $('#key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = $('#key-input').value.trim();
    if (!value) return;
    sessionStorage.setItem(KEY_STORE, value);
    $('#key-input').value = '';
    start();
  });
  setInterval(() => void refresh(), REFRESH_EVERY_MS);
  scheduleTick();
  if (key()) start();
  else askForKey(null);
})();
