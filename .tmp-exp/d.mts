import { parseAllDocuments, isScalar } from "yaml";
for (const t of ["---\na: 1\n---\n", "", "# only comment\n", "a: 1\n---\n# c\n", "---\nnull\n", "a: 1\n...\n"]) {
  const docs = parseAllDocuments(t);
  console.log(JSON.stringify(t), Array.isArray(docs) ? docs.map(d => [d.contents === null ? "NULL" : (d.contents as any).constructor.name, isScalar(d.contents) ? JSON.stringify((d.contents as any).source) : "", d.range]) : "empty");
}
