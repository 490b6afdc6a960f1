/**
 * Glob patterns for array names: `*` and `?` stay within one '/'-separated segment, `**` crosses segments
 * (`**\/` also matches no segment at all, so `**\/bias` matches `bias`). The whole name must match.
 */
export function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        source += '(?:.*/)?';
      } else {
        source += '.*';
      }
    } else if (char === '*') {
      source += '[^/]*';
    } else if (char === '?') {
      source += '[^/]';
    } else {
      source += char.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`, 'su');
}

/** A name filter: kept when it matches an include (or there are none) and no exclude. */
export function nameFilter(includes: readonly string[], excludes: readonly string[]): (name: string) => boolean {
  const include = includes.map(globToRegExp);
  const exclude = excludes.map(globToRegExp);
  return (name) => (include.length === 0 || include.some((re) => re.test(name))) && !exclude.some((re) => re.test(name));
}
