// The C interface of libnanotrain_sentencepiece.so, the one library that links sentencepiece.
// Debian's libsentencepiece carries its own copy of protobuf whose exported symbols would
// replace those of the libprotobuf LibTorch loads (a crash in protobuf's static initializers);
// the tokenizer therefore loads this library into a link namespace of its own (dlmopen), which
// keeps each copy bound to itself and, unlike RTLD_DEEPBIND, works under AddressSanitizer.
// Strings returned through `char**` are malloc'ed by the library's C runtime: release them with
// nt_spm_free. Functions returning int give 0 on success.
#pragma once

#include <cstddef>

extern "C" {

struct NtSpm;  // a loaded sentencepiece model

// Kinds of vocabulary entries.
enum NtSpmPieceKind { kNtSpmNormal = 0, kNtSpmUnknown = 1, kNtSpmControl = 2, kNtSpmByte = 3 };

// Trains a model from `num_args` "key=value" options of sentencepiece's trainer, on the lines
// next_line(context, &line, &length) yields until it returns 0. On success *proto holds the
// serialized model.
int nt_spm_train(const char* const* args, size_t num_args,
                 int (*next_line)(void* context, const char** line, size_t* length), void* context,
                 char** proto, size_t* proto_length, char** error);

// A model from its serialized bytes, or null with *error set.
NtSpm* nt_spm_load(const char* proto, size_t length, char** error);
void nt_spm_destroy(NtSpm* model);

int nt_spm_piece_size(const NtSpm* model);
// The id of `piece`, or -1 when it is not in the vocabulary.
int nt_spm_piece_to_id(const NtSpm* model, const char* piece, size_t length);
// The piece's text (valid while the model lives) and its NtSpmPieceKind.
const char* nt_spm_id_to_piece(const NtSpm* model, int id, size_t* length, int* kind);

int nt_spm_encode(const NtSpm* model, const char* text, size_t length, int** ids, size_t* num_ids,
                  char** error);
int nt_spm_decode(const NtSpm* model, const int* ids, size_t num_ids, char** text, size_t* length,
                  char** error);

void nt_spm_free(void* pointer);

}  // extern "C"
