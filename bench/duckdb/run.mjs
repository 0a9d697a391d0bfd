// The bench's DuckDB comparison (bench/engines_compare.sh runs it): the
// time DuckDB (@duckdb/node-api, in memory) takes to load the CSV that
// cscflow-bench-csv exported and to answer the same three indicators as
// bench/sqlite/indicators.sql, on one thread and on two.
//
//   node bench/duckdb/run.mjs --csv-dir DIR --as-of YYYYMMDD[,YYYYMMDD...]
//                             --out FILE [--clean] [--runs N] [--threads 1,2]
//
// --csv-dir  where events.csv is (load.sql reads it from there)
// --as-of    the as-of dates to answer for (one query run per date)
// --out      the answers, one line per LA and indicator, in the format of
//            SQLite's answers: as_of|la|id|window|breakdown|numerator|denominator
// --clean    run clean.sql first, in the timed query phase (the history has
//            corrections)
// --runs     runs per thread count (3): each run is a fresh database
//
// Prints `name: value` lines: for each thread count t, duckdb<t>_load_seconds,
// duckdb<t>_query_seconds and duckdb<t>_total_seconds as the median of the
// runs with _min and _max beside them, and duckdb<t>_other_cpu_percent, the
// CPU that other processes took during the runs (the worst run), so that a
// figure measured on a busy machine is recognised as such. Exit status 0
// when every run gave the same answers, 1 when they differ, 2 on an error.
import { DuckDBInstance } from '@duckdb/node-api';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sql = (name) => readFileSync(join(here, name), 'utf8');

function parseArgs(argv) {
  const o = { clean: false, runs: 3, threads: [1, 2] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--csv-dir') o.csvDir = next();
    else if (a === '--as-of') o.asOf = next().split(',').filter((d) => /^\d{8}$/.test(d));
    else if (a === '--out') o.out = next();
    else if (a === '--clean') o.clean = true;
    else if (a === '--runs') o.runs = Number(next());
    else if (a === '--threads') o.threads = next().split(',').map(Number);
    else throw new Error(`unknown argument ${a}`);
  }
  if (!o.csvDir || !o.asOf?.length || !o.out || !(o.runs >= 1)) {
    throw new Error('usage: run.mjs --csv-dir DIR --as-of YYYYMMDD[,...] --out FILE ' +
                    '[--clean] [--runs N] [--threads 1,2]');
  }
  return o;
}

// Busy seconds of the whole machine since boot, from /proc/stat's first
// line (user nice system idle iowait irq softirq steal; idle and iowait
// are not busy). USER_HZ is 100 on Linux.
function machineBusySeconds() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return (f[1] + f[2] + f[3] + f[6] + f[7] + f[8]) / 100;
}

// A mark to measure a step from: wall time, the machine's busy time, and
// this process's CPU time (all of DuckDB's threads run in it).
function mark() {
  const u = process.cpuUsage();
  return { t: performance.now() / 1000, busy: machineBusySeconds(), own: (u.user + u.system) / 1e6 };
}

// Percent of the machine's CPU capacity that other processes took between a and b.
function otherCpuPercent(a, b) {
  const capacity = (b.t - a.t) * availableParallelism();
  const others = (b.busy - a.busy) - (b.own - a.own);
  return capacity > 0 ? Math.max(0, Math.min(100, (100 * others) / capacity)) : 0;
}

// One run: a fresh in-memory database on t threads; load, then query.
async function oneRun(o, threads) {
  const instance = await DuckDBInstance.create(':memory:', { threads: String(threads) });
  const setup = await instance.connect();
  await setup.run(`SET threads = ${threads}`);
  const a = mark();
  await setup.run(sql('load.sql'));
  const b = mark();
  if (o.clean) await setup.run(sql('clean.sql'));
  const answers = [];
  for (const d of o.asOf) {
    // temp tables and macros are the connection's own: one per as-of date
    const c = await instance.connect();
    await c.run(`SET VARIABLE as_of = ${d}`);
    const reader = await c.runAndReadAll(sql('indicators.sql'));
    for (const row of reader.getRows()) answers.push([d, ...row.map(String)].join('|'));
    c.closeSync();
  }
  const e = mark();
  return { instance, setup, load: b.t - a.t, query: e.t - b.t, other: otherCpuPercent(a, e),
           answers: answers.join('\n') + '\n' };
}

const median = (v) => [...v].sort((x, y) => x - y)[Math.floor((v.length - 1) / 2)];
const f3 = (x) => x.toFixed(3);

async function main() {
  const o = parseArgs(process.argv.slice(2));
  process.chdir(o.csvDir);
  const pkg = JSON.parse(readFileSync(join(here, 'node_modules/@duckdb/node-api/package.json'), 'utf8'));
  console.log(`duckdb_version: ${pkg.version}`);
  console.log(`duckdb_runs: ${o.runs}`);
  let answers = null;
  let same = true;
  let last = null;
  for (const t of o.threads) {
    const load = [], query = [], total = [], other = [];
    for (let r = 0; r < o.runs; r++) {
      if (last) last.setup.closeSync();
      last = await oneRun(o, t);
      load.push(last.load);
      query.push(last.query);
      total.push(last.load + last.query);
      other.push(last.other);
      if (answers === null) answers = last.answers;
      else if (answers !== last.answers) same = false;
    }
    for (const [name, v] of [['load', load], ['query', query], ['total', total]]) {
      console.log(`duckdb${t}_${name}_seconds: ${f3(median(v))}`);
      console.log(`duckdb${t}_${name}_seconds_min: ${f3(Math.min(...v))}`);
      console.log(`duckdb${t}_${name}_seconds_max: ${f3(Math.max(...v))}`);
    }
    console.log(`duckdb${t}_other_cpu_percent: ${Math.max(...other).toFixed(1)}`);
  }
  writeFileSync(o.out, answers);
  // What indicators.sql takes for granted, counted on the last run's table (not timed).
  const reader = await last.setup.runAndReadAll(sql('assumptions.sql'));
  for (const [line] of reader.getRows()) console.log(line);
  last.setup.closeSync();
  console.log(`duckdb_runs_agree: ${same ? 'yes' : 'no'}`);
  return same ? 0 : 1;
}

main().then((rc) => { process.exitCode = rc; },
            (err) => { console.error(`duckdb run.mjs: ${err.message}`); process.exitCode = 2; });
