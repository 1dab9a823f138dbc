// test_data_stsb.cpp — STS-B: the tab-only tsv reader on the shipped splits, the paper's text cleaning,
// GloVe files (plain and gzip, bad lines), the unknown-word and padding rules, the data sets, the
// WordPiece tokenizer (training, the vocab file, pair layout) and every bad-input case with its message.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "data/glove.h"
#include "data/stsb.h"
#include "data/tokenizer.h"
#include "tests/temp_dir.h"
#include "tests/util.h"

using namespace dru;
using dru::test::error_of;
using dru::test::read_file;
using dru::test::seconds_since;
using dru::test::write_file;
using dru::test::TempDir;

namespace {

const std::string kShipped = DRU_SOURCE_DIR "/data";
const std::string kShared = DRU_SOURCE_DIR "/../shared/data";
const std::string kHeader = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n";

void write_gz(const std::string& path, const std::string& text) {
  gzFile gz = gzopen(path.c_str(), "wb");
  REQUIRE(gz != nullptr);
  REQUIRE(gzwrite(gz, text.data(), unsigned(text.size())) == int(text.size()));
  gzclose(gz);
}

std::string row(const std::string& index, const std::string& s1, const std::string& s2, const std::string& score) {
  return index + "\tmain-news\theadlines\t2015\t0001\tnone\tnone\t" + s1 + "\t" + s2 + "\t" + score + "\n";
}

std::string crlf(std::string line) { return line.substr(0, line.size() - 1) + "\r\n"; }

int64_t count_below(const std::vector<StsbRow>& rows, double limit) {
  int64_t n = 0;
  for (const StsbRow& r : rows) n += r.score < limit;
  return n;
}

std::unordered_set<std::string> shipped_stopwords() { return read_word_list(kShipped + "/stsb/english_stopwords.txt"); }

}  // namespace

TEST_CASE("stsb: the shipped splits hold 5249 1000 1000 pairs with the paper's score<2 counts") {
  StsbSplits s = read_stsb_splits(StsbOptions::from_root(kShipped));
  CHECK(s.train.size() == 5249);
  CHECK(s.val.size() == 1000);
  CHECK(s.test.size() == 1000);
  // Quote-free parsing (docs/paper.md §1.2): forget 1,571 / 400 / 400, retain 3,678 / 600 / 600.
  CHECK(count_below(s.train, 2) == 1571);
  CHECK(count_below(s.val, 2) == 400);
  CHECK(count_below(s.test, 2) == 400);
  CHECK(int64_t(s.train.size()) - count_below(s.train, 2) == 3678);
  // The first training pair, as written in the file; line numbers count the header.
  CHECK(s.train[0].index == "0");
  CHECK(s.train[0].sentence1 == "A woman is dancing.");
  CHECK(s.train[0].sentence2 == "A man is eating.");
  CHECK(s.train[0].score == doctest::Approx(0.143));
  CHECK(s.train[0].line == 2);
  CHECK(s.train.back().index == "5248");
  CHECK(s.train.back().line == 5250);
  CHECK(read_word_list(kShipped + "/stsb/english_stopwords.txt").size() == 179);
}

TEST_CASE("stsb: the shipped copy matches ../shared/data") {
  if (!std::filesystem::exists(kShared + "/stsb/train_new.tsv")) {
    MESSAGE("skipped: " << kShared << "/stsb is absent");
    return;
  }
  for (const char* split : {"train", "val", "test"}) {
    std::vector<StsbRow> a = read_stsb_tsv(StsbOptions::from_root(kShipped).split_path(split));
    std::vector<StsbRow> b = read_stsb_tsv(StsbOptions::from_root(kShared).split_path(split));
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].sentence1 == b[i].sentence1);
      CHECK(a[i].score == b[i].score);
    }
  }
}

TEST_CASE("stsb: quote characters never merge rows and blank lines and CRLF are tolerated") {
  TempDir dir("stsb_quotes");
  std::string text = "\xEF\xBB\xBF" + kHeader + row("0", "He said \"yes", "no\" she said", "1.5") + "\n" +
                     crlf(row("1", "\"", "'", "0")) + row("2", "plain", "text", "5.000");
  write_file(dir.file("q.tsv"), text);
  std::vector<StsbRow> rows = read_stsb_tsv(dir.file("q.tsv"));
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].sentence1 == "He said \"yes");
  CHECK(rows[0].sentence2 == "no\" she said");
  CHECK(rows[1].sentence1 == "\"");
  CHECK(rows[1].score == 0);
  CHECK(rows[1].line == 4);  // the blank line 3 is skipped, not renumbered
  CHECK(rows[2].score == 5);
  CHECK(rows[2].line == 5);
}

TEST_CASE("stsb: without an index column the key is the row number") {
  std::istringstream in("sentence1\tsentence2\tscore\na\tb\t1\nc\td\t2\n");
  std::vector<StsbRow> rows = parse_stsb_tsv(in, "mem");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].index == "0");
  CHECK(rows[1].index == "1");
}

TEST_CASE("stsb: bad tsv inputs give one line naming the file and line") {
  TempDir dir("stsb_bad");
  auto fails = [&](const std::string& text) {
    write_file(dir.file("bad.tsv"), text);
    return error_of([&] { read_stsb_tsv(dir.file("bad.tsv")); });
  };
  const std::string f = dir.file("bad.tsv");
  CHECK(error_of([&] { read_stsb_tsv(dir.file("missing.tsv")); }).find("missing.tsv: cannot open") !=
        std::string::npos);
  CHECK(fails("").find(f + ": the file is empty") != std::string::npos);
  CHECK(fails("\n\n").find(f + ": the file is empty") != std::string::npos);
  CHECK(fails(kHeader).find(f + ": the header has no rows") != std::string::npos);
  CHECK(fails("a,b,c\n1,2,3\n").find(f + ":1: the header lacks sentence1") != std::string::npos);
  CHECK(fails(kHeader + row("0", "a", "b", "1") + "0\tonly\tthree\n")
            .find(f + ":3: 3 tab-separated fields, the header has 10") != std::string::npos);
  CHECK(fails(kHeader + row("0", "a\tb", "c", "1")).find(f + ":2: 11 tab-separated fields") != std::string::npos);
  CHECK(fails(kHeader + row("0", "a", "b", "high")).find(f + ":2: score 'high' is not a number") != std::string::npos);
  CHECK(fails(kHeader + row("0", "a", "b", "")).find(f + ":2: score '' is not a number") != std::string::npos);
  CHECK(fails(kHeader + row("0", "a", "b", "2.5x")).find(f + ":2: score '2.5x' is not a number") != std::string::npos);
  CHECK(fails(kHeader + row("0", "a", "b", "nan")).find(f + ":2: score is NaN") != std::string::npos);
  CHECK(fails(kHeader + row("0", "a", "b", "5.5")).find(f + ":2: score 5.5 is outside [0, 5]") != std::string::npos);
  CHECK(fails(kHeader + row("0", "a", "b", "-0.1")).find(f + ":2: score -0.1 is outside [0, 5]") != std::string::npos);
  CHECK(fails(kHeader + row("0", "a", "b", "inf")).find("is outside [0, 5]") != std::string::npos);
  CHECK(fails(kHeader + row("7", "a", "b", "1") + row("7", "c", "d", "2"))
            .find(f + ":3: index '7' already appeared at line 2") != std::string::npos);
  // A split file that is missing from the folder names that file.
  StsbOptions o;
  o.folder = dir.str();
  CHECK(error_of([&] { read_stsb_splits(o); }).find("train_new.tsv: cannot open") != std::string::npos);
  CHECK(error_of([&] { o.split_path("dev"); }).find("no split named 'dev'") != std::string::npos);
}

TEST_CASE("stsb: clean_text follows the paper's cleaning") {
  const std::unordered_set<std::string> stop = shipped_stopwords();
  using W = std::vector<std::string>;
  // Lower-case, URLs out (with everything up to the next space), digits and punctuation out.
  CHECK(clean_text("Check http://x.org/a?b=1 NOW! See HTTPS://Y.com", {}) == W{"check", "now", "see"});
  CHECK(clean_text("xhttp://a.b y http", {}) == W{"x", "y", "http"});
  CHECK(clean_text("3 dogs, 2 cats; 1-2-3 go", {}) == W{"dogs", "cats", "go"});
  CHECK(clean_text("well-known caf\xC3\xA9 naïve", {}) == W{"well", "known", "caf", "na", "ve"});
  // Apostrophes inside words stay, others go; the regex's left-to-right matches leave "''a" as "'a".
  CHECK(clean_text("Rock 'n' roll isn't DEAD; 'quoted' words''", {}) ==
        W{"rock", "n", "roll", "isn't", "dead", "quoted", "words"});
  CHECK(clean_text("''a b'' c'd 12 o'clock", {}) == W{"'a", "b", "c'd", "o'clock"});
  CHECK(clean_text("' '' '''", {}).empty());
  // A run of other characters is one space, whatever its length in bytes (a UTF-8 letter is one
  // character to Python): "-\xC3\xA9" between the apostrophes is one space, so "'t" keeps its apostrophe.
  CHECK(clean_text("ta'-\xC3\xA9't", {}) == W{"ta", "'t"});
  // A URL ends at any whitespace, Unicode's no-break and ideographic spaces included.
  CHECK(clean_text("see http://x.org\xC2\xA0now", {}) == W{"see", "now"});
  CHECK(clean_text("see http://x.org\xE3\x80\x80now", {}) == W{"see", "now"});
  // Stop-words out, including contractions and negations.
  CHECK(clean_text("The man's dog - it's not here", stop) == W{"man's", "dog"});
  CHECK(clean_text("Rock 'n' roll isn't DEAD", stop) == W{"rock", "n", "roll", "dead"});
  CHECK(clean_text("A woman is dancing.", stop) == W{"woman", "dancing"});
  CHECK(clean_text("", stop).empty());
}

TEST_CASE("stsb: cleaning the shipped splits gives the paper's word counts") {
  // Counted once with the paper's utils.clean_text (Python re) over both sentence columns.
  const std::unordered_set<std::string> stop = shipped_stopwords();
  StsbSplits s = read_stsb_splits(StsbOptions::from_root(kShipped));
  struct Want {
    const std::vector<StsbRow>* rows;
    int64_t words, distinct, empty;
  };
  for (Want w : {Want{&s.train, 67388, 11220, 1}, Want{&s.val, 12688, 4192, 0}, Want{&s.test, 12730, 4248, 0}}) {
    int64_t words = 0, empty = 0;
    std::unordered_set<std::string> distinct;
    for (const StsbRow& r : *w.rows)
      for (const std::string* t : {&r.sentence1, &r.sentence2}) {
        std::vector<std::string> c = clean_text(*t, stop);
        words += int64_t(c.size());
        empty += c.empty();
        distinct.insert(c.begin(), c.end());
      }
    CHECK(words == w.words);
    CHECK(int64_t(distinct.size()) == w.distinct);
    CHECK(empty == w.empty);
  }
}

TEST_CASE("glove: plain and gzip files give the same vectors") {
  TempDir dir("glove_gz");
  const std::string text = "the 0.5 -1.25 3e-2\ncat 1 2 3\r\n\ndog -0.0 4.5 6\n";
  write_file(dir.file("v.txt"), text);
  write_gz(dir.file("v.txt.gz"), text);
  WordVectors a = read_glove(dir.file("v.txt")), b = read_glove(dir.file("v.txt.gz")), c = parse_glove(text, "mem");
  CHECK(a.dim == 3);
  CHECK(a.words == std::vector<std::string>{"the", "cat", "dog"});
  CHECK(a.values == std::vector<float>{0.5f, -1.25f, 0.03f, 1, 2, 3, -0.0f, 4.5f, 6});
  CHECK(a.lines == 3);
  CHECK(b.words == a.words);
  CHECK(b.values == a.values);
  CHECK(c.values == a.values);
  CHECK(a.find("cat")[2] == 3);
  CHECK(a.find("bird") == nullptr);
  // Only the wanted words are kept; the others are still checked for their field count.
  std::unordered_set<std::string> wanted{"dog", "bird"};
  WordVectors w = read_glove(dir.file("v.txt.gz"), &wanted);
  CHECK(w.words == std::vector<std::string>{"dog"});
  CHECK(w.lines == 3);
}

TEST_CASE("glove: the shipped gz file and its plain text give identical vectors") {
  TempDir dir("glove_shipped");
  const std::string gz = kShipped + "/glove/glove.6B.100d.stsb_vocab.txt.gz";
  // Decompress with zlib into a plain file, then read both.
  std::string plain;
  {
    gzFile in = gzopen(gz.c_str(), "rb");
    REQUIRE(in != nullptr);
    char buf[1 << 16];
    int got;
    while ((got = gzread(in, buf, sizeof(buf))) > 0) plain.append(buf, size_t(got));
    gzclose(in);
  }
  write_file(dir.file("glove.txt"), plain);
  auto t0 = std::chrono::steady_clock::now();
  WordVectors a = read_glove(gz);
  const double secs = seconds_since(t0);
  WordVectors b = read_glove(dir.file("glove.txt"));
  CHECK(a.dim == 100);
  CHECK(a.size() == 13791);
  CHECK(a.spaced_words == 0);
  CHECK(a.repeated_words == 0);
  CHECK(a.words == b.words);
  CHECK(a.values == b.values);
  REQUIRE(a.find("the") != nullptr);
  CHECK(a.find("the")[0] == -0.038194f);
  CHECK(a.find("the")[1] == -0.24487f);
  CHECK(a.find("a") == nullptr);  // the subset lacks a few common tokens: the unknown-word rule matters
  MESSAGE("read 13,791 GloVe vectors from the .gz in " << secs << " s");
}

TEST_CASE("glove: words with spaces and repeated words") {
  // 840B-style multi-word entries: the last D fields are the vector, the rest is the word.
  WordVectors wv = parse_glove("a 1 2\n. . . 3 4\nat name@domain.com 5 6\na 7 8\nb 9 10   \n", "mem");
  CHECK(wv.dim == 2);
  CHECK(wv.words == std::vector<std::string>{"a", ". . .", "at name@domain.com", "b"});
  CHECK(wv.spaced_words == 2);
  CHECK(wv.repeated_words == 1);
  CHECK(wv.find("a")[0] == 7);  // the last line wins, as the paper's Python dict
  CHECK(wv.find("b")[1] == 10);
  // word2vec / fastText text files open with "count D": read as such, not as 1-d vectors.
  WordVectors w2v = parse_glove("2 3\nx 1 2 3 \ny 4 5 6 \n", "mem");
  CHECK(w2v.dim == 3);
  CHECK(w2v.words == std::vector<std::string>{"x", "y"});
  CHECK(error_of([] {
          parse_glove("3 3\nx 1 2 3\ny 4 5 6\n", "mem");
        }).find("mem: the header line promises 3 vectors, the file holds 2") != std::string::npos);
  CHECK(error_of([] { parse_glove("2 3\n", "mem"); }).find("mem: holds no word vectors") != std::string::npos);
}

TEST_CASE("glove: bad files and lines give one line naming the file and line") {
  TempDir dir("glove_bad");
  auto fails = [&](const std::string& text) {
    write_file(dir.file("bad.txt"), text);
    return error_of([&] { read_glove(dir.file("bad.txt")); });
  };
  const std::string f = dir.file("bad.txt");
  CHECK(error_of([&] { read_glove(dir.file("missing.txt.gz")); }).find("missing.txt.gz: cannot open") !=
        std::string::npos);
  CHECK(fails("").find(f + ": holds no word vectors") != std::string::npos);
  CHECK(fails("\n \n").find(f + ": holds no word vectors") != std::string::npos);
  CHECK(fails("lonely\n").find(f + ":1: the first line holds no vector") != std::string::npos);
  CHECK(fails("a 1 2 3\nb 1 2\n").find(f + ":2: 2 values after the word, the first line has 3") != std::string::npos);
  CHECK(fails("a 1 2 3\n\nb 1 x 3\n").find(f + ":3: value 2 of 'b' is 'x', not a finite number") != std::string::npos);
  CHECK(fails("a 1 2 3\nb 1 nan 3\n").find(f + ":2: value 2 of 'b' is 'nan'") != std::string::npos);
  CHECK(fails("a 1 2 3\nb 1 2 1e99\n").find(f + ":2: value 3 of 'b' is '1e99'") != std::string::npos);
  CHECK(fails("a 1 2 3\nb 1 2 3,5\n").find(f + ":2: value 3 of 'b' is '3,5'") != std::string::npos);
  // A .gz cut short is an error, not a shorter vocabulary.
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "w" + std::to_string(i) + " 0.125 -0.5 " + std::to_string(i) + "\n";
  write_gz(dir.file("full.gz"), text);
  const std::string bytes = read_file(dir.file("full.gz"));
  write_file(dir.file("cut.gz"), bytes.substr(0, bytes.size() / 2));
  CHECK(read_glove(dir.file("full.gz")).size() == 2000);
  CHECK(error_of([&] { read_glove(dir.file("cut.gz")); }).find("cut.gz: cannot read the file after line") !=
        std::string::npos);
}

TEST_CASE("stsb: unknown words take the mean of the sentence's known words") {
  WordVectors wv = parse_glove("dog 1 2\ncat 3 6\nowl 5 10\n", "mem");
  std::vector<float> out(8);
  // Pre-padded to 4 steps; "zebra" takes the mean of dog and cat.
  CHECK(embed_words({"dog", "zebra", "cat"}, wv, 4, out.data()) == 2);
  CHECK(out == std::vector<float>{0, 0, 1, 2, 2, 4, 3, 6});
  // The mean covers the whole sentence, also the words cut by truncation (the notebook's text_embed).
  std::vector<float> two(4);
  embed_words({"zebra", "dog", "owl"}, wv, 2, two.data());
  CHECK(two == std::vector<float>{3, 6, 1, 2});
  // No known word: unknown words are zeros.
  CHECK(embed_words({"zebra", "okapi"}, wv, 2, two.data()) == 0);
  CHECK(two == std::vector<float>{0, 0, 0, 0});
}

TEST_CASE("stsb: sentences are pre-padded or truncated to T") {
  WordVectors wv = parse_glove("a 1\nb 2\nc 3\nd 4\n", "mem");
  std::vector<float> out(3);
  embed_words({"a", "b", "c", "d"}, wv, 3, out.data());
  CHECK(out == std::vector<float>{1, 2, 3});  // the first T words
  embed_words({"d"}, wv, 3, out.data());
  CHECK(out == std::vector<float>{0, 0, 4});  // zero rows before the words
  embed_words({}, wv, 3, out.data());
  CHECK(out == std::vector<float>{0, 0, 0});
  CHECK(error_of([&] { embed_words({"a"}, wv, 0, out.data()); }).find("steps is 0") != std::string::npos);
}

TEST_CASE("stsb: load_stsb_vectors on the shipped data") {
  auto t0 = std::chrono::steady_clock::now();
  StsbOptions o = StsbOptions::from_root(kShipped);
  StsbVectorStats st;
  DataSet ds = load_stsb_vectors(o, &st);
  const double secs = seconds_since(t0);
  CHECK(ds.name == "stsb");
  CHECK(ds.label_name == "score");
  CHECK(ds.train.x.shape() == Shape{5249, 10, 100});
  CHECK(ds.train.x2.shape() == Shape{5249, 10, 100});
  CHECK(ds.train.y.shape() == Shape{5249, 1});
  CHECK(ds.val.x.shape() == Shape{1000, 10, 100});
  CHECK(ds.test.x2.shape() == Shape{1000, 10, 100});
  CHECK(ds.train.size() == 5249);
  CHECK(ds.train.key[0] == "0");
  CHECK(ds.train.key[5248] == "5248");
  CHECK(ds.train.label[0] == doctest::Approx(0.143));
  CHECK(ds.train.y.at({0, 0}) == doctest::Approx(0.143));
  // "A woman is dancing." -> woman, dancing: 8 zero rows, then their vectors.
  WordVectors wv = read_glove(o.glove);
  const float* x = ds.train.x.data<float>();
  for (int k = 0; k < 800; ++k) REQUIRE(x[k] == 0.0f);
  for (int k = 0; k < 100; ++k) {
    REQUIRE(x[800 + k] == wv.find("woman")[k]);
    REQUIRE(x[900 + k] == wv.find("dancing")[k]);
  }
  // Words seen over the three splits (the Python count: 90,316 of 92,806 known).
  CHECK(st.dim == 100);
  CHECK(st.words == 67388 + 12688 + 12730);
  CHECK(st.known == 65548 + 12378 + 12390);
  CHECK(st.empty_sentences == 1);
  CHECK(st.glove_lines == 13791);
  MESSAGE("loaded STS-B vectors in " << secs << " s: " << st.distinct_known << " of " << st.distinct_words
                                     << " distinct words known");
  // Options naming the stsb folder itself find the same files.
  StsbOptions o2 = StsbOptions::from_root(kShipped + "/stsb/");
  CHECK(std::filesystem::equivalent(o2.glove, o.glove));
  CHECK(std::filesystem::equivalent(o2.stopwords, o.stopwords));
  CHECK(std::filesystem::equivalent(o2.split_path("val"), o.split_path("val")));
  // A split file given for its folder: said so, not looked for as ".../train_new.tsv/stsb/train_new.tsv".
  const std::string file = kShipped + "/stsb/train_new.tsv";
  CHECK(error_of([&] { StsbOptions::from_root(file); })
            .find("stsb: " + file + " is a file; give the folder that holds train_new.tsv, dev_new.tsv and "
                                    "test_new.tsv") == 0);
  // Bad options.
  StsbOptions bad = o;
  bad.steps = 0;
  CHECK(error_of([&] { load_stsb_vectors(bad); }).find("steps") != std::string::npos);
  bad = o;
  bad.glove = o.folder + "/nope.txt";
  CHECK(error_of([&] { load_stsb_vectors(bad); }).find("nope.txt: cannot open") != std::string::npos);
  bad = o;
  bad.stopwords = o.folder + "/nope.txt";
  CHECK(error_of([&] { load_stsb_vectors(bad); }).find("nope.txt: cannot open the word list") != std::string::npos);
}

TEST_CASE("stsb: vectors that know none of the words are refused, and a low coverage is warned of") {
  TempDir dir("stsb_coverage");
  StsbOptions o = StsbOptions::from_root(kShipped);
  o.glove = dir.file("french.txt");
  write_file(o.glove, "chien 0.1 0.2 0.3\nchat 0.4 0.5 0.6\nmaison 0.7 0.8 0.9\n");
  // Every sentence would embed as zeros: refused, not trained on.
  const std::string error = error_of([&] { load_stsb_vectors(o); });
  INFO(error);
  CHECK(error.find(o.glove + ": none of its 3 words occurs in the STS-B sentences (") == 0);
  CHECK(error.find("give English GloVe vectors") != std::string::npos);
  // One known word ("woman"): loads, with the coverage on stderr (captured from file descriptor 2).
  write_file(o.glove, "chien 0.1 0.2 0.3\nwoman 0.4 0.5 0.6\n");
  StsbVectorStats st;
  std::fflush(stderr);
  const int saved = ::dup(2);
  const std::string err_path = dir.file("stderr.txt");
  FILE* capture = std::fopen(err_path.c_str(), "w");
  REQUIRE(capture != nullptr);
  ::dup2(::fileno(capture), 2);
  DataSet ds = load_stsb_vectors(o, &st);
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::fclose(capture);
  CHECK(ds.train.size() == 5249);
  CHECK(st.distinct_known == 1);
  const double coverage = double(st.known) / double(st.words);
  MESSAGE("coverage " << coverage << " (" << st.known << " of " << st.words << ")");
  CHECK(coverage < 0.1);
  CHECK(read_file(err_path).find(fmt::format("stsb: warning: {} knows {:.1f}% of the words in the sentences ({} of {}; "
                                             "1 of {} distinct)",
                                             o.glove, 100 * coverage, st.known, st.words, st.distinct_words)) == 0);
}

TEST_CASE("tokenizer: encode_pair layout is CLS a SEP b SEP then padding") {
  Tokenizer tok = Tokenizer::train({"the cat sat", "the cat ran", "a dog sat"});
  CHECK(tok.pad_id() == 0);
  CHECK(tok.cls_id() == 1);
  CHECK(tok.sep_id() == 2);
  CHECK(tok.unk_id() == 3);
  CHECK(tok.mask_id() == 4);
  CHECK(tok.pieces("The cat!") == std::vector<std::string>{"the", "cat"});
  EncodedPair p = tok.encode_pair("the cat", "a dog", 10);
  const int64_t the = tok.id("the"), cat = tok.id("cat");
  REQUIRE(the >= 0);
  REQUIRE(cat >= 0);
  std::vector<int64_t> b = tok.encode("a dog");
  REQUIRE(!b.empty());
  std::vector<int64_t> ids{1, the, cat, 2};
  ids.insert(ids.end(), b.begin(), b.end());
  ids.push_back(2);
  const size_t used = ids.size();
  ids.resize(10, 0);
  CHECK(p.ids == ids);
  for (size_t t = 0; t < 10; ++t) {
    CHECK(int(p.mask[t]) == (t < used ? 1 : 0));
    CHECK(p.segments[t] == (t >= 4 && t < used ? 1 : 0));
  }
  // Longest-first truncation: one token at a time from the longer sentence (b on ties).
  EncodedPair q = tok.encode_pair("the cat the cat the cat", "cat", 7);
  CHECK(q.ids == std::vector<int64_t>{1, the, cat, the, 2, cat, 2});
  EncodedPair r = tok.encode_pair("the cat", "the cat", 5);
  CHECK(r.ids == std::vector<int64_t>{1, the, 2, the, 2});
  CHECK(tok.encode_pair("the", "cat", 3).ids == std::vector<int64_t>{1, 2, 2});
  CHECK(error_of([&] { tok.encode_pair("a", "b", 2); }).find("max_len 2") != std::string::npos);
  // Unseen words split into pieces of the alphabet: never [UNK] on cleaned text.
  CHECK(tok.pieces("zebras") == std::vector<std::string>{"z", "##e", "##b", "##r", "##a", "##s"});
  CHECK(tok.pieces(std::string(101, 'a')) == std::vector<std::string>{"[UNK]"});
}

TEST_CASE("tokenizer: trained on the STS-B training split and kept in a file") {
  TempDir dir("tokenizer");
  auto t0 = std::chrono::steady_clock::now();
  StsbOptions o = StsbOptions::from_root(kShipped);
  Tokenizer tok = train_stsb_tokenizer(o);
  const double secs = seconds_since(t0);
  CHECK(tok.size() <= 8192);
  CHECK(tok.size() > 4000);
  CHECK(tok.vocabulary()[0] == "[PAD]");
  // Frequent words are whole tokens, rare ones split into pieces.
  CHECK(tok.pieces("A man is playing a guitar.") ==
        std::vector<std::string>{"a", "man", "is", "playing", "a", "guitar"});
  // Deterministic: training twice gives the same vocabulary.
  CHECK(train_stsb_tokenizer(o).vocabulary() == tok.vocabulary());
  // Save and load: the same vocabulary and the same encodings of every validation pair.
  tok.save(dir.file("vocab.txt"));
  Tokenizer back = Tokenizer::load(dir.file("vocab.txt"));
  CHECK(back.vocabulary() == tok.vocabulary());
  int64_t unk = 0, pieces = 0;
  for (const StsbRow& r : read_stsb_tsv(o.split_path("val"))) {
    EncodedPair a = tok.encode_pair(r.sentence1, r.sentence2, 64), b = back.encode_pair(r.sentence1, r.sentence2, 64);
    REQUIRE(a.ids == b.ids);
    REQUIRE(a.segments == b.segments);
    REQUIRE(a.mask == b.mask);
    for (int64_t id : a.ids) {
      unk += id == tok.unk_id();
      pieces += id > 4;
    }
  }
  CHECK(unk == 0);
  MESSAGE("tokenizer: " << tok.size() << " tokens trained in " << secs << " s; " << pieces
                        << " word pieces over the 1,000 validation pairs");
}

TEST_CASE("tokenizer: bad vocabulary files and unknown characters") {
  TempDir dir("tokenizer_bad");
  auto fails = [&](const std::string& text) {
    write_file(dir.file("v.txt"), text);
    return error_of([&] { Tokenizer::load(dir.file("v.txt")); });
  };
  const std::string f = dir.file("v.txt");
  CHECK(error_of([&] { Tokenizer::load(dir.file("none.txt")); }).find("none.txt: cannot open") != std::string::npos);
  CHECK(fails("").find(f + ": the vocabulary file is empty") != std::string::npos);
  CHECK(fails("[PAD]\n[CLS]\n\n[SEP]\n").find(f + ":3: an empty token") != std::string::npos);
  CHECK(fails("[PAD]\n[CLS]\n[SEP]\n[UNK]\n[CLS]\n").find(f + ":5: token '[CLS]' already appeared at line 2") !=
        std::string::npos);
  CHECK(fails("[PAD]\na b\n").find(f + ":2: token 'a b' holds whitespace") != std::string::npos);
  CHECK(fails("[CLS]\n[PAD]\n[SEP]\n[UNK]\n").find("the first token must be [PAD]") != std::string::npos);
  CHECK(fails("[PAD]\n[CLS]\n[UNK]\n").find("lacks [CLS], [SEP] or [UNK]") != std::string::npos);
  // A vocabulary without "z": words holding it are [UNK]; BERT's order of specials loads too.
  write_file(dir.file("v.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\n##a\n##b\nab\r\n");
  Tokenizer tok = Tokenizer::load(dir.file("v.txt"));
  CHECK(tok.cls_id() == 2);
  CHECK(tok.unk_id() == 1);
  CHECK(tok.encode("ab abba zab ba") == std::vector<int64_t>{9, 9, 8, 7, 1, 6, 7});
  CHECK(error_of([&] { tok.token(99); }).find("id 99 is outside") != std::string::npos);
  // Training needs words and a vocabulary size above the alphabet.
  CHECK(error_of([&] { Tokenizer::train({"123", "!!"}); }).find("hold no word") != std::string::npos);
  CHECK(error_of([&] { Tokenizer::train({"a"}, TokenizerOptions{.vocab_size = 10}); }).find("too small") !=
        std::string::npos);
}

TEST_CASE("stsb: load_stsb_tokens on the shipped data") {
  StsbOptions o = StsbOptions::from_root(kShipped);
  Tokenizer tok = Tokenizer::train({"a woman is dancing", "a man is eating", "a man is talking"});
  DataSet ds = load_stsb_tokens(o, tok, 32);
  CHECK(ds.train.x.shape() == Shape{5249, 32});
  CHECK(ds.train.x.dtype() == DType::i64);
  CHECK(ds.train.x2.dtype() == DType::i64);
  CHECK(ds.train.mask.dtype() == DType::u8);
  CHECK(ds.val.mask.shape() == Shape{1000, 32});
  CHECK(ds.test.y.shape() == Shape{1000, 1});
  CHECK(ds.test.key[999] == "999");
  EncodedPair p = tok.encode_pair("A woman is dancing.", "A man is eating.", 32);
  for (int64_t t = 0; t < 32; ++t) {
    CHECK(ds.train.x.data<int64_t>()[t] == p.ids[size_t(t)]);
    CHECK(ds.train.x2.data<int64_t>()[t] == p.segments[size_t(t)]);
    CHECK(ds.train.mask.data<uint8_t>()[t] == p.mask[size_t(t)]);
  }
  CHECK(error_of([&] { load_stsb_tokens(o, tok, 2); }).find("max_len 2") != std::string::npos);
}
