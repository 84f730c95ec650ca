// Every user-visible string of the dashboard, in one place.
// Bahasa Indonesia is the default (the users are Indonesian civil servants);
// English is a choice remembered in localStorage.
// Placeholders are written {name} and filled by t(key, {name: value}).

const STORAGE_KEY = 'kinerja.lang';

export const LANGS = ['id', 'en'];

const DICT = {
  id: {
    'doc.title': 'Kinerja — pemantauan kinerja langsung',
    'skip': 'Langsung ke isi',
    'brand.sub': 'Pemantauan kinerja unit layanan',
    'picker.label': 'Unit kerja',
    'picker.choose': '— Pilih unit kerja —',
    'lang.toggle': 'English',
    'lang.toggle.label': 'Switch to English',
    'wall.enter': 'Layar dinding',
    'wall.enter.label': 'Buka mode layar dinding (tekan Esc untuk keluar)',
    'token.toggle': 'Token',
    'token.label': 'Token akses',
    'token.hint': 'Token disimpan hanya di peramban ini.',
    'token.save': 'Simpan',
    'token.clear': 'Hapus',
    'token.rejected': 'Token ditolak atau diperlukan. Masukkan token akses Anda.',
    'token.saved': 'Token disimpan. Menyambung ulang…',
    'token.cleared': 'Token dihapus.',

    'conn.connecting': 'Menyambung…',
    'conn.live': 'Langsung',
    'conn.reconnecting': 'Menyambung ulang…',
    'conn.stale': 'Tertunda',
    'conn.unauthorized': 'Tidak berwenang',
    'conn.demo': 'Demo',
    'conn.last': 'Pembaruan {time}',
    'conn.never': 'Belum ada pembaruan',
    'conn.retry': 'coba lagi dalam {s} dtk',

    'empty.pick': 'Pilih unit kerja untuk melihat kinerjanya secara langsung.',
    'empty.waiting': 'Menunggu data dari server…',
    'empty.noUnits': 'Belum ada unit yang dapat Anda lihat.',
    'unit.sub': 'Hari ini, {date}',
    'personal.sub': 'Tampilan pribadi · {unit} · {date}',
    'personal.back': '← Kembali ke unit',
    'personal.open': 'Lihat kinerja {name}',

    'sec.summary': 'Ringkasan hari ini',
    'sec.indicators': 'Indikator kinerja utama (IKU)',
    'sec.counters': 'Loket',
    'sec.charts': 'Grafik hari ini',
    'sec.members': 'Pegawai',
    'sec.alerts': 'Peringatan hari ini',

    'sum.served': 'Dilayani',
    'sum.served.sub': '{n} per jam',
    'sum.noShow': 'Tidak hadir',
    'sum.sla': 'Tunggu sesuai SLA',
    'sum.sla.sub': '{n} dilayani',
    'sum.wait': 'Waktu tunggu p90',
    'sum.service': 'Waktu layanan p90',
    'sum.last15': '15 menit terakhir: {v}',
    'sum.ikm': 'IKM',
    'sum.ikm.sub': '{n} penilaian · rata-rata {avg}',
    'sum.tasks': 'Tugas selesai',
    'sum.tasks.sub': 'tepat waktu {pct}',
    'sum.presence': 'Status saat ini',

    'ind.target': 'Target',
    'ind.achievement': 'Capaian',
    'ind.none': 'Belum ada indikator untuk ditampilkan.',
    'status.ok': 'Tercapai',
    'status.warn': 'Waspada',
    'status.bad': 'Tidak tercapai',
    'status.none': 'Tanpa data',
    'ov.title': 'Ikhtisar semua unit',
    'ov.caption': 'Semua unit kerja: status indikator, layanan hari ini dan antrian sekarang. Klik judul kolom untuk mengurutkan.',
    'ov.unit': 'Unit kerja',
    'ov.status': 'Status IKU',
    'ov.served': 'Dilayani',
    'ov.sla': 'Sesuai SLA',
    'ov.wait': 'Tunggu p90',
    'ov.ikm': 'IKM',
    'ov.waiting': 'Antre',
    'ov.longest': 'Tunggu terlama',
    'ov.alerts': 'Peringatan',
    'ov.coaching': 'Pembinaan',
    'ov.chips': '{ok} tercapai, {warn} waspada, {bad} tidak tercapai',
    'ov.needsCoaching': 'Perlu pembinaan ({n} hari)',
    'ov.badDays': '{n} hari buruk',
    'q.title': 'Antrian sekarang',
    'q.all': 'Semua layanan',
    'q.waiting': '{n} menunggu',
    'q.longest': 'Terlama {v}',
    'q.est': 'Perkiraan tunggu {v}',

    'win.15m': '15 menit terakhir',
    'win.1h': '1 jam terakhir',
    'win.today': 'hari ini',
    'win.7d': '7 hari terakhir',
    'win.30d': '30 hari terakhir',
    'win.now': 'saat ini',

    'presence.available': 'Siap',
    'presence.serving': 'Melayani',
    'presence.break': 'Istirahat',
    'presence.offline': 'Tidak aktif',
    'presence.unknown': 'Tidak diketahui',
    'presence.since': 'sejak {time}',

    'counter.idle': 'Kosong',
    'counter.none': 'Belum ada loket.',

    'mem.name': 'Nama',
    'mem.presence': 'Status',
    'mem.served': 'Dilayani',
    'mem.wait': 'Tunggu p90',
    'mem.service': 'Layanan p90',
    'mem.ikm': 'IKM',
    'mem.tasks': 'Tugas',
    'mem.onTime': 'Tepat waktu',
    'mem.ind': 'IKU',
    'mem.none': 'Belum ada pegawai.',
    'mem.caption': 'Angka hari ini per pegawai',

    'chart.served': 'Dilayani per jam',
    'chart.wait': 'Waktu tunggu p90 per jam',
    'chart.loading': 'Memuat grafik…',
    'chart.unavailable': 'Data grafik belum tersedia.',
    'chart.served.sum': 'Total {total}; tertinggi {max} pada pukul {hour}.',
    'chart.wait.sum': 'Tertinggi {max} pada pukul {hour}.',
    'chart.empty': 'Belum ada data hari ini.',

    'alerts.none': 'Belum ada peringatan hari ini.',
    'alerts.detail': 'nilai {value} · target {target}',
    'alerts.unitScope': 'unit',

    'ikm.A': 'Sangat baik',
    'ikm.B': 'Baik',
    'ikm.C': 'Kurang baik',
    'ikm.D': 'Tidak baik',

    'dur.hours': 'j',
    'unit.min': 'mnt',
    'err.server': 'Pesan dari server: {msg}',
    'err.dismiss': 'Tutup',

    // rapor (SPEC §15)
    'rapor.link': 'Rapor periode',
    'rapor.title': 'Rapor kinerja · {unit}',
    'rapor.prev': '← Sebelumnya',
    'rapor.next': 'Berikutnya →',
    'rapor.print': 'Cetak',
    'rapor.kindLabel': 'Periode',
    'rapor.kind.month': 'Bulanan',
    'rapor.kind.quarter': 'Triwulan',
    'rapor.kind.year': 'Tahunan',
    'rapor.month': '{m} {y}',
    'rapor.quarter': 'Triwulan {q} {y}',
    'rapor.year': 'Tahun {y}',
    'month.1': 'Januari', 'month.2': 'Februari', 'month.3': 'Maret', 'month.4': 'April',
    'month.5': 'Mei', 'month.6': 'Juni', 'month.7': 'Juli', 'month.8': 'Agustus',
    'month.9': 'September', 'month.10': 'Oktober', 'month.11': 'November', 'month.12': 'Desember',
    'rapor.loading': 'Menghitung rapor…',
    'rapor.error': 'Rapor tidak dapat dimuat: {msg}',
    'rapor.final': 'Periode {span} · final',
    'rapor.provisional': 'Periode {span} · sementara (periode belum berakhir)',
    'rapor.provisionalShort': 'sementara',
    'rapor.partial': 'Data sebelum {date} sudah melewati masa simpan.',
    'rapor.caption': 'Hasil kerja, perilaku kerja dan predikat tiap pegawai',
    'rapor.no': 'No',
    'rapor.employee': 'Pegawai (NIP)',
    'rapor.target': 'target {v}',
    'rapor.hasil': 'Hasil kerja',
    'rapor.perilaku': 'Perilaku kerja',
    'rapor.predikat': 'Predikat',
    'rapor.noRows': 'Belum ada pegawai pada periode ini.',
    'rapor.distribution': 'Sebaran predikat',
    'rapor.noPredikat': 'Belum ada predikat',
    'rapor.ikm': 'Indeks Kepuasan Masyarakat (IKM) unit',
    'rapor.ikmValue': 'IKM {ikm} · mutu {grade} ({label}) · {n} responden',
    'rapor.ikmNone': 'Belum ada penilaian masyarakat pada periode ini.',
    'rapor.element': 'Unsur pelayanan',
    'rapor.nrr25': 'NRR × 25',
    'rapor.weakest': 'terendah',
    'rapor.note': 'Hasil kerja diukur dari indikator (di atas ekspektasi: capaian ≥ {pct} %); perilaku kerja dari penilaian atasan (BerAKHLAK). Predikat adalah rekomendasi bagi pejabat penilai kinerja (PermenPAN-RB 6/2022).',
    'rapor.generated': 'Dihitung {date}',
    'rapor.noRow': 'Belum ada data Anda pada periode ini.',
    'rapor.weakestInd': 'Indikator terlemah: {name} — capaian {ach} % ({value}, target {target})',
    'rapor.noWeakest': 'Belum ada indikator dengan data pada periode ini.',
    'rapor.open': 'Buka rapor lengkap',
    'sec.rapor': 'Rapor periode ini',
    'level.above': 'Di atas ekspektasi',
    'level.meets': 'Sesuai ekspektasi',
    'level.below': 'Di bawah ekspektasi',
    'predikat.sangat_baik': 'Sangat Baik',
    'predikat.baik': 'Baik',
    'predikat.butuh_perbaikan': 'Butuh Perbaikan',
    'predikat.kurang': 'Kurang/Misconduct',
    'predikat.sangat_kurang': 'Sangat Kurang',
  },

  en: {
    'doc.title': 'Kinerja — live performance monitor',
    'skip': 'Skip to content',
    'brand.sub': 'Service unit performance monitor',
    'picker.label': 'Unit',
    'picker.choose': '— Choose a unit —',
    'lang.toggle': 'Bahasa Indonesia',
    'lang.toggle.label': 'Ganti ke Bahasa Indonesia',
    'wall.enter': 'Wallboard',
    'wall.enter.label': 'Open wallboard mode (press Esc to leave)',
    'token.toggle': 'Token',
    'token.label': 'Access token',
    'token.hint': 'The token is kept in this browser only.',
    'token.save': 'Save',
    'token.clear': 'Clear',
    'token.rejected': 'The token was refused or is required. Enter your access token.',
    'token.saved': 'Token saved. Reconnecting…',
    'token.cleared': 'Token cleared.',

    'conn.connecting': 'Connecting…',
    'conn.live': 'Live',
    'conn.reconnecting': 'Reconnecting…',
    'conn.stale': 'Stale',
    'conn.unauthorized': 'Not authorised',
    'conn.demo': 'Demo',
    'conn.last': 'Updated {time}',
    'conn.never': 'No update yet',
    'conn.retry': 'retrying in {s} s',

    'empty.pick': 'Choose a unit to see its performance live.',
    'empty.waiting': 'Waiting for data from the server…',
    'empty.noUnits': 'There are no units you may see yet.',
    'unit.sub': 'Today, {date}',
    'personal.sub': 'Personal view · {unit} · {date}',
    'personal.back': '← Back to the unit',
    'personal.open': 'See the numbers of {name}',

    'sec.summary': 'Today at a glance',
    'sec.indicators': 'Key performance indicators (IKU)',
    'sec.counters': 'Counters',
    'sec.charts': "Today's charts",
    'sec.members': 'Staff',
    'sec.alerts': "Today's alerts",

    'sum.served': 'Served',
    'sum.served.sub': '{n} per hour',
    'sum.noShow': 'No-shows',
    'sum.sla': 'Wait within SLA',
    'sum.sla.sub': '{n} served',
    'sum.wait': 'Wait time p90',
    'sum.service': 'Service time p90',
    'sum.last15': 'last 15 min: {v}',
    'sum.ikm': 'IKM (satisfaction)',
    'sum.ikm.sub': '{n} ratings · average {avg}',
    'sum.tasks': 'Tasks done',
    'sum.tasks.sub': 'on time {pct}',
    'sum.presence': 'Current status',

    'ind.target': 'Target',
    'ind.achievement': 'Achievement',
    'ind.none': 'No indicators to show yet.',
    'status.ok': 'On target',
    'status.warn': 'At risk',
    'status.bad': 'Missed',
    'status.none': 'No data',
    'ov.title': 'All units at a glance',
    'ov.caption': 'Every unit: indicator status, today\'s services and the queue now. Click a column heading to sort.',
    'ov.unit': 'Unit',
    'ov.status': 'IKU status',
    'ov.served': 'Served',
    'ov.sla': 'Within SLA',
    'ov.wait': 'Wait p90',
    'ov.ikm': 'IKM',
    'ov.waiting': 'Waiting',
    'ov.longest': 'Longest wait',
    'ov.alerts': 'Alerts',
    'ov.coaching': 'Coaching',
    'ov.chips': '{ok} on target, {warn} at risk, {bad} missed',
    'ov.needsCoaching': 'Needs coaching ({n} days)',
    'ov.badDays': '{n} bad days',
    'q.title': 'Queue now',
    'q.all': 'All services',
    'q.waiting': '{n} waiting',
    'q.longest': 'Longest {v}',
    'q.est': 'Estimated wait {v}',

    'win.15m': 'last 15 minutes',
    'win.1h': 'last hour',
    'win.today': 'today',
    'win.7d': 'last 7 days',
    'win.30d': 'last 30 days',
    'win.now': 'right now',

    'presence.available': 'Available',
    'presence.serving': 'Serving',
    'presence.break': 'On break',
    'presence.offline': 'Offline',
    'presence.unknown': 'Unknown',
    'presence.since': 'since {time}',

    'counter.idle': 'Idle',
    'counter.none': 'No counters yet.',

    'mem.name': 'Name',
    'mem.presence': 'Status',
    'mem.served': 'Served',
    'mem.wait': 'Wait p90',
    'mem.service': 'Service p90',
    'mem.ikm': 'IKM',
    'mem.tasks': 'Tasks',
    'mem.onTime': 'On time',
    'mem.ind': 'IKU',
    'mem.none': 'No staff yet.',
    'mem.caption': "Today's numbers per staff member",

    'chart.served': 'Served per hour',
    'chart.wait': 'Wait time p90 per hour',
    'chart.loading': 'Loading chart…',
    'chart.unavailable': 'Chart data is not available.',
    'chart.served.sum': 'Total {total}; highest {max} at {hour}.',
    'chart.wait.sum': 'Highest {max} at {hour}.',
    'chart.empty': 'No data today yet.',

    'alerts.none': 'No alerts today.',
    'alerts.detail': 'value {value} · target {target}',
    'alerts.unitScope': 'unit',

    'ikm.A': 'Very good',
    'ikm.B': 'Good',
    'ikm.C': 'Fair',
    'ikm.D': 'Poor',

    'dur.hours': 'h',
    'unit.min': 'min',
    'err.server': 'Message from the server: {msg}',
    'err.dismiss': 'Close',

    // rapor (SPEC §15)
    'rapor.link': 'Period report',
    'rapor.title': 'Performance report · {unit}',
    'rapor.prev': '← Previous',
    'rapor.next': 'Next →',
    'rapor.print': 'Print',
    'rapor.kindLabel': 'Period',
    'rapor.kind.month': 'Monthly',
    'rapor.kind.quarter': 'Quarterly',
    'rapor.kind.year': 'Yearly',
    'rapor.month': '{m} {y}',
    'rapor.quarter': 'Quarter {q} {y}',
    'rapor.year': 'Year {y}',
    'month.1': 'January', 'month.2': 'February', 'month.3': 'March', 'month.4': 'April',
    'month.5': 'May', 'month.6': 'June', 'month.7': 'July', 'month.8': 'August',
    'month.9': 'September', 'month.10': 'October', 'month.11': 'November', 'month.12': 'December',
    'rapor.loading': 'Computing the report…',
    'rapor.error': 'The report could not be loaded: {msg}',
    'rapor.final': 'Period {span} · final',
    'rapor.provisional': 'Period {span} · provisional (the period has not ended)',
    'rapor.provisionalShort': 'provisional',
    'rapor.partial': 'Data before {date} is past its retention.',
    'rapor.caption': 'Work results, work behaviour and rating of each employee',
    'rapor.no': 'No',
    'rapor.employee': 'Employee (NIP)',
    'rapor.target': 'target {v}',
    'rapor.hasil': 'Work results',
    'rapor.perilaku': 'Work behaviour',
    'rapor.predikat': 'Rating',
    'rapor.noRows': 'No employees in this period yet.',
    'rapor.distribution': 'Distribution of ratings',
    'rapor.noPredikat': 'No rating yet',
    'rapor.ikm': "The unit's public satisfaction index (IKM)",
    'rapor.ikmValue': 'IKM {ikm} · grade {grade} ({label}) · {n} responses',
    'rapor.ikmNone': 'No citizen ratings in this period yet.',
    'rapor.element': 'Service element',
    'rapor.nrr25': 'NRR × 25',
    'rapor.weakest': 'lowest',
    'rapor.note': "Work results are measured by the indicators (above expectation: achievement ≥ {pct} %); work behaviour is the supervisor's assessment (BerAKHLAK). The rating is a recommendation for the assessing official (PermenPAN-RB 6/2022).",
    'rapor.generated': 'Computed {date}',
    'rapor.noRow': 'No data of yours in this period yet.',
    'rapor.weakestInd': 'Weakest indicator: {name} — achievement {ach} % ({value}, target {target})',
    'rapor.noWeakest': 'No indicator has data in this period yet.',
    'rapor.open': 'Open the full report',
    'sec.rapor': "This period's report",
    'level.above': 'Above expectation',
    'level.meets': 'Meets expectation',
    'level.below': 'Below expectation',
    'predikat.sangat_baik': 'Sangat Baik (excellent)',
    'predikat.baik': 'Baik (good)',
    'predikat.butuh_perbaikan': 'Butuh Perbaikan (needs improvement)',
    'predikat.kurang': 'Kurang/Misconduct (poor)',
    'predikat.sangat_kurang': 'Sangat Kurang (very poor)',
  },
};

// BCP 47 tags for Intl formatting.
const LOCALES = { id: 'id-ID', en: 'en-GB' };

let lang = 'id';

/** Reads the remembered language (or an explicit ?lang=) once at start-up. */
export function initLang(explicit) {
  let stored = null;
  try { stored = localStorage.getItem(STORAGE_KEY); } catch { /* private mode */ }
  const want = explicit || stored;
  lang = LANGS.includes(want) ? want : 'id';
  document.documentElement.lang = lang;
  return lang;
}

export function getLang() { return lang; }
export function locale() { return LOCALES[lang]; }

export function setLang(next) {
  if (!LANGS.includes(next)) return;
  lang = next;
  document.documentElement.lang = lang;
  try { localStorage.setItem(STORAGE_KEY, lang); } catch { /* private mode */ }
}

/** Looks a key up in the current language; a missing key shows itself, so it is noticed. */
export function t(key, params) {
  let s = DICT[lang][key] ?? DICT.id[key] ?? key;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
  return s;
}

/**
 * Fills the static markup: data-i18n sets the text, data-i18n-label/-title/-placeholder
 * set those attributes. Called at start and on each language change.
 */
export function applyStatic(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  document.title = t('doc.title');
}

// Exported for the tests: both languages must define the same keys.
export const _dict = DICT;
