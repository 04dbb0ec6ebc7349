// The Prometheus text exposition format (version 0.0.4), read generically:
// whichever library writes /metrics, samples are `name{labels} value
// [timestamp]` lines; # lines are comments (HELP, TYPE) and skipped.

// Parses `text` into a Map: metric name -> [{labels: {..}, value: Number}].
export function parsePrometheus(text) {
  const metrics = new Map();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const sample = parseLine(line);
    if (!sample) continue;
    if (!metrics.has(sample.name)) metrics.set(sample.name, []);
    metrics.get(sample.name).push({ labels: sample.labels, value: sample.value });
  }
  return metrics;
}

function parseLine(line) {
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (!nameMatch) return null;
  const name = nameMatch[0];
  let i = name.length;
  const labels = {};
  if (line[i] === "{") {
    i += 1;
    for (;;) {
      while (line[i] === " " || line[i] === ",") i += 1;
      if (line[i] === "}") {
        i += 1;
        break;
      }
      const labelMatch = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/.exec(line.slice(i));
      if (!labelMatch) return null;
      i += labelMatch[0].length;
      let value = "";
      while (i < line.length && line[i] !== '"') {
        if (line[i] === "\\") {
          const next = line[i + 1];
          value += next === "n" ? "\n" : next;
          i += 2;
        } else {
          value += line[i];
          i += 1;
        }
      }
      if (line[i] !== '"') return null;
      i += 1;
      labels[labelMatch[1]] = value;
    }
  }
  const rest = line.slice(i).trim().split(/\s+/);
  const value = parseValue(rest[0]);
  return Number.isNaN(value) && rest[0] !== "NaN" ? null : { name, labels, value };
}

function parseValue(text) {
  if (text === "+Inf" || text === "Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  return Number(text);
}

// The first of `names` present in `metrics` (a counter may be exposed with
// or without the `_total` suffix, depending on the library).
export function pick(metrics, names) {
  for (const name of names) {
    for (const candidate of [name, `${name}_total`]) {
      if (metrics.has(candidate)) return metrics.get(candidate);
    }
  }
  return null;
}

export function sum(samples, filter) {
  if (!samples) return null;
  return samples.filter((s) => !filter || filter(s.labels)).reduce((a, s) => a + s.value, 0);
}

// Histogram buckets summed over every other label: [[le, cumulative count]].
export function buckets(metrics, base) {
  const samples = metrics.get(`${base}_bucket`);
  if (!samples) return null;
  const byLe = new Map();
  for (const s of samples) {
    const le = parseValue(s.labels.le);
    byLe.set(le, (byLe.get(le) || 0) + s.value);
  }
  return Array.from(byLe.entries()).sort((a, b) => a[0] - b[0]);
}

// A quantile from the increase of cumulative buckets between two scrapes,
// interpolated linearly inside its bucket (as PromQL's histogram_quantile).
export function quantile(q, before, after) {
  if (!before || !after) return null;
  const old = new Map(before);
  const deltas = after.map(([le, count]) => [le, count - (old.get(le) || 0)]);
  const total = deltas.length ? deltas[deltas.length - 1][1] : 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lowerLe = 0;
  let lowerCount = 0;
  for (const [le, count] of deltas) {
    if (count >= rank) {
      if (le === Infinity) return lowerLe;
      const inBucket = count - lowerCount;
      return inBucket > 0 ? lowerLe + (le - lowerLe) * ((rank - lowerCount) / inBucket) : le;
    }
    lowerLe = le;
    lowerCount = count;
  }
  return lowerLe;
}
