package dataset

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// ResolveHFCache finds the files of a Hugging Face dataset reference
// "org/name[:split]" or "org/name:subset:split" (split defaults to train;
// an "hf:" prefix is accepted) in the local caches, without any network:
//
//   - the hub cache ($HF_HUB_CACHE, else $HF_HOME/hub, else
//     ~/.cache/huggingface/hub): datasets--org--name/snapshots/<rev>/, whose
//     .parquet/.json/.jsonl files for the split are read directly;
//   - the datasets cache ($HF_DATASETS_CACHE, else $HF_HOME/datasets, else
//     ~/.cache/huggingface/datasets): org___name/<config>/<version>/<hash>/
//     name-split[-0000k-of-0000n].arrow, Arrow IPC streams (the newest
//     cached version when there are several).
func ResolveHFCache(ref string) ([]string, error) {
	parts := strings.Split(strings.TrimPrefix(ref, "hf:"), ":")
	name, subset, split := parts[0], "", "train"
	switch len(parts) {
	case 1:
	case 2:
		split = parts[1]
	case 3:
		subset, split = parts[1], parts[2]
	default:
		return nil, fmt.Errorf("dataset: %q: want a file, a folder, or name[:split] / name:subset:split", ref)
	}
	if name == "" || split == "" || strings.Contains(name, "..") {
		return nil, fmt.Errorf("dataset: %q: want a file, a folder, or name[:split] / name:subset:split", ref)
	}
	splitRe := regexp.MustCompile(`(^|/)` + regexp.QuoteMeta(split) + `([-./]|$)`)

	hub := hfDir("HF_HUB_CACHE", "hub")
	repo := filepath.Join(hub, "datasets--"+strings.ReplaceAll(name, "/", "--"))
	if snaps, _ := filepath.Glob(filepath.Join(repo, "snapshots", "*")); len(snaps) > 0 {
		snap := latestSnapshot(repo, snaps)
		var files []string
		filepath.WalkDir(snap, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !isDataFile(p) {
				return nil
			}
			rel, _ := filepath.Rel(snap, p)
			rel = filepath.ToSlash(rel)
			if subset != "" && !strings.HasPrefix(rel, subset+"/") && !strings.Contains(rel, "/"+subset+"/") {
				return nil
			}
			if splitRe.MatchString(rel) {
				files = append(files, p)
			}
			return nil
		})
		if len(files) > 0 {
			slices.Sort(files)
			return files, nil
		}
	}

	dsCache := hfDir("HF_DATASETS_CACHE", "datasets")
	short := name[strings.LastIndex(name, "/")+1:]
	base := filepath.Join(dsCache, strings.ReplaceAll(name, "/", "___"))
	conf := "*"
	if subset != "" {
		conf = subset
	}
	// <name>-<split>.arrow or <name>-<split>-0000k-of-0000n.arrow, in the
	// newest <config>/<version>/<hash> folder that has them.
	cands, _ := filepath.Glob(filepath.Join(base, conf, "*", "*", short+"-"+split+"*.arrow"))
	shardRe := regexp.MustCompile(`^` + regexp.QuoteMeta(short+"-"+split) + `(-\d{5}-of-\d{5})?\.arrow$`)
	byDir := map[string][]string{}
	for _, c := range cands {
		if shardRe.MatchString(filepath.Base(c)) {
			byDir[filepath.Dir(c)] = append(byDir[filepath.Dir(c)], c)
		}
	}
	if len(byDir) > 0 {
		dirs := make([]string, 0, len(byDir))
		for d := range byDir {
			dirs = append(dirs, d)
		}
		best := latestSnapshot("", dirs)
		files := byDir[best]
		slices.Sort(files)
		return files, nil
	}
	return nil, fmt.Errorf("dataset: %q is not a file or folder, and no split %q of dataset %q was found in %s or %s",
		ref, split, name, repo, base)
}

func hfDir(env, sub string) string {
	if d := os.Getenv(env); d != "" {
		return d
	}
	if h := os.Getenv("HF_HOME"); h != "" {
		return filepath.Join(h, sub)
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "huggingface", sub)
}

// latestSnapshot picks the revision refs/main names, else the newest folder.
func latestSnapshot(repo string, snaps []string) string {
	if b, err := os.ReadFile(filepath.Join(repo, "refs", "main")); repo != "" && err == nil {
		p := filepath.Join(repo, "snapshots", strings.TrimSpace(string(b)))
		if slices.Contains(snaps, p) {
			return p
		}
	}
	best, bestT := snaps[0], int64(0)
	for _, s := range snaps {
		if fi, err := os.Stat(s); err == nil && fi.ModTime().UnixNano() > bestT {
			best, bestT = s, fi.ModTime().UnixNano()
		}
	}
	return best
}
